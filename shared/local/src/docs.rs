//! `GET /docs`: the contract as a readable page. Swagger UI renders `/v1/openapi.json` in the
//! browser from files the project's scripts install from npm (`infra/docs`), served from
//! disk here: nothing is fetched from elsewhere at run time.

use std::path::{Path, PathBuf};

/// Where the renderer's files are when `CHIEF_DOCS_DIR` does not say: the npm install of
/// this source tree.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/docs/node_modules/swagger-ui-dist")
}

/// The renderer's files the page uses, with their content types; nothing else is served.
const ASSETS: [(&str, &str); 3] = [
    ("swagger-ui.css", "text/css; charset=utf-8"),
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    ("favicon-32x32.png", "image/png"),
];

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Chief API</title>
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/v1/openapi.json",
      dom_id: "#docs",
      deepLinking: true,
      docExpansion: "list",
      validatorUrl: null
    });
  </script>
</body>
</html>
"##;

const MISSING: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Chief API</title></head><body>\
<p>The reference page's renderer is not installed: run <code>npm ci --prefix infra/docs</code> (<code>scripts/run</code> does it), \
or point <code>CHIEF_DOCS_DIR</code> at a <code>swagger-ui-dist</code> folder. The contract itself is at \
<a href=\"/v1/openapi.json\">/v1/openapi.json</a>.</p></body></html>";

/// A page or file of `/docs`: status, content type and body; `None` for a path it does not serve.
pub fn serve(dir: &Path, path: &str) -> Option<(u16, &'static str, Vec<u8>)> {
    let html = "text/html; charset=utf-8";
    match path.trim_end_matches('/') {
        "/docs" if dir.join(ASSETS[1].0).is_file() => Some((200, html, PAGE.as_bytes().to_vec())),
        "/docs" => Some((503, html, MISSING.as_bytes().to_vec())),
        other => {
            let name = other.strip_prefix("/docs/")?;
            let (file, content_type) = ASSETS.iter().find(|(file, _)| *file == name)?;
            match std::fs::read(dir.join(file)) {
                Ok(bytes) => Some((200, content_type, bytes)),
                Err(_) => Some((404, "text/plain; charset=utf-8", b"not installed".to_vec())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_come_from_the_folder_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(serve(dir.path(), "/docs").unwrap().0, 503);
        std::fs::write(dir.path().join("swagger-ui-bundle.js"), "js").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        let (status, content_type, body) = serve(dir.path(), "/docs/").unwrap();
        assert_eq!((status, content_type), (200, "text/html; charset=utf-8"));
        assert!(String::from_utf8(body).unwrap().contains("/v1/openapi.json"));
        assert_eq!(serve(dir.path(), "/docs/swagger-ui-bundle.js").unwrap().2, b"js");
        assert!(serve(dir.path(), "/docs/secret.txt").is_none());
        assert!(serve(dir.path(), "/docs/../Cargo.toml").is_none());
        assert!(serve(dir.path(), "/v1/health").is_none());
    }
}
