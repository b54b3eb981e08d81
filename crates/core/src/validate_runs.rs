//! Checks of the run parameters Assistants v2 added (`response_format: json_schema`,
//! `include[]`), kept apart from `validate.rs` so the two API versions' checks can grow
//! separately. `validate::run_params` covers what both versions share.

use crate::validate::{Checked, Invalid, is_function_name};
use assistd_wire::ResponseFormatOption;

/// The one value `include[]` takes on createRun, listRunSteps and getRunStep.
pub const INCLUDE_SEARCH_CONTENT: &str =
    "step_details.tool_calls[*].file_search.results[*].content";

/// A `response_format` (of a run or an assistant) at `param`: a `json_schema` needs a name
/// matching `^[a-zA-Z0-9_-]{1,64}$` and, when given, a schema that is an object.
pub fn response_format(param: &str, format: Option<&ResponseFormatOption>) -> Checked {
    let Some(ResponseFormatOption::JsonSchema(f)) = format else {
        return Ok(());
    };
    let s = &f.json_schema;
    if !is_function_name(&s.name) {
        let p = format!("{param}.json_schema.name");
        return Err(Invalid::new(
            &p,
            format!(
                "Invalid '{p}': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
            ),
        ));
    }
    if let Some(schema) = &s.schema
        && !schema.is_object()
    {
        let p = format!("{param}.json_schema.schema");
        return Err(Invalid::new(
            &p,
            format!(
                "Invalid type for '{p}': expected an object, but got {}.",
                kind(schema)
            ),
        ));
    }
    Ok(())
}

/// The values of `include[]` (or `include`, as some clients spell it): whether the file-search
/// results' content is asked for. Any other value is refused.
pub fn include<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<bool, Invalid> {
    let mut content = false;
    for v in values {
        if v != INCLUDE_SEARCH_CONTENT {
            return Err(Invalid::new(
                "include",
                format!("Invalid value: '{v}'. Supported values are: '{INCLUDE_SEARCH_CONTENT}'."),
            ));
        }
        content = true;
    }
    Ok(content)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assistd_wire::{ApiVersion, with_version};
    use serde_json::json;

    fn v2(value: serde_json::Value) -> ResponseFormatOption {
        with_version(ApiVersion::V2, || serde_json::from_value(value)).unwrap()
    }

    #[test]
    fn json_schema_names_and_schemas_are_checked() {
        let ok = v2(
            json!({"type": "json_schema", "json_schema": {"name": "a_b-1", "schema": {"type": "object"}, "strict": true}}),
        );
        assert!(response_format("response_format", Some(&ok)).is_ok());
        let bad_name = v2(json!({"type": "json_schema", "json_schema": {"name": "a b"}}));
        let e = response_format("response_format", Some(&bad_name)).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("response_format.json_schema.name"));
        let bad_schema =
            v2(json!({"type": "json_schema", "json_schema": {"name": "a", "schema": [1]}}));
        let e = response_format("response_format", Some(&bad_schema)).unwrap_err();
        assert_eq!(
            e.param.as_deref(),
            Some("response_format.json_schema.schema")
        );
    }

    #[test]
    fn include_takes_one_value() {
        assert_eq!(include([]).ok(), Some(false));
        assert_eq!(include([INCLUDE_SEARCH_CONTENT]).ok(), Some(true));
        let e = include(["step_details"]).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("include"));
    }
}
