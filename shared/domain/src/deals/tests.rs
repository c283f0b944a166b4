//! Deals: stages, pipeline, deliverables, follow-ups.
