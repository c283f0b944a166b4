//! What tests need of the cloud that production code does not: a DynamoDB table made as
//! `template.yaml` declares it. Built for this crate's tests and, with the `test-support`
//! feature, for the black-box tests; never in a function.

/// Creates a table as `template.yaml`'s `Table` resource declares it (keys, indexes), for
/// tests and local DynamoDB stand-ins, so that the code and the template cannot drift apart.
pub async fn create_table_from_template(client: &aws_sdk_dynamodb::Client, name: &str, template_yaml: &str) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    };
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(template_yaml).map_err(|e| e.to_string())?;
    let props = &template["Resources"]["Table"]["Properties"];
    let text = |v: &serde_yaml_ng::Value, what: &str| v.as_str().map(str::to_string).ok_or(format!("template: {what} missing"));
    let list = |v: &serde_yaml_ng::Value, what: &str| v.as_sequence().cloned().ok_or(format!("template: {what} missing"));
    let key_schema = |schema: &serde_yaml_ng::Value| -> Result<Vec<KeySchemaElement>, String> {
        list(schema, "KeySchema")?
            .iter()
            .map(|k| {
                let kind = if k["KeyType"].as_str() == Some("HASH") {
                    KeyType::Hash
                } else {
                    KeyType::Range
                };
                KeySchemaElement::builder()
                    .attribute_name(text(&k["AttributeName"], "AttributeName")?)
                    .key_type(kind)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let mut attributes = Vec::new();
    for a in list(&props["AttributeDefinitions"], "AttributeDefinitions")? {
        if a["AttributeType"].as_str() != Some("S") {
            return Err("template: every key attribute is a string".into());
        }
        attributes.push(
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"], "AttributeName")?)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    let mut indexes = Vec::new();
    for g in list(&props["GlobalSecondaryIndexes"], "GlobalSecondaryIndexes")? {
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(text(&g["IndexName"], "IndexName")?)
                .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&props["KeySchema"])?))
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())?;
    Ok(())
}
