//! Renders the Helm chart in `deploy/helm/canaryd` the way `helm template`
//! does, for the subset of Helm the chart is written in, because `helm`
//! cannot be installed where these tests run.
//!
//! Go's text/template itself (actions, pipelines, `define`/`template`,
//! `if`/`with`/`range`, variables, trim markers, comments) is the `gtmpl`
//! crate. On top of it this file adds the few Sprig/Helm functions the
//! chart calls, each with Helm's argument order and meaning: `include`,
//! `toYaml`, `indent`, `nindent`, `quote`, `default`, `trunc`,
//! `trimSuffix`, `contains`, `replace`, `int`, `fail` (gtmpl provides
//! `printf`, `and`, `or`, `not`, `eq`, `gt`, ...). A template that calls any
//! other function fails to parse here, so the chart cannot drift outside the
//! subset unnoticed. The subset is listed in the chart's README.
//!
//! Values are built as Helm builds them: `values.yaml` deep-merged with the
//! overrides (maps merge key by key, anything else replaces, `null`
//! deletes), with every number a float, as Helm's JSON round trip makes it
//! (which is why the chart needs `int` before comparing).
#![allow(dead_code)]

use gtmpl::{Context, FuncError, Template, Value};
use serde_json::Value as Json;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The release being rendered (`helm template NAME -n NAMESPACE`).
pub struct Release<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
}

/// One rendered template file, before it is split into YAML documents.
pub struct Rendered {
    pub file: String,
    pub text: String,
}

pub fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/canaryd")
}

thread_local! {
    /// The chart's `_*.tpl` files, so `include` can render a named template
    /// (a gtmpl function gets its arguments only, no handle on the set).
    static HELPERS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

const FUNCS: &[(&str, gtmpl::Func)] = &[
    ("include", include),
    ("toYaml", to_yaml),
    ("indent", indent),
    ("nindent", nindent),
    ("quote", quote),
    ("default", default),
    ("trunc", trunc),
    ("trimSuffix", trim_suffix),
    ("contains", contains),
    ("replace", replace),
    ("int", int),
    ("fail", fail),
];

fn template_set(extra_name: &str, extra: &str) -> Result<Template, String> {
    let mut t = Template::default();
    t.add_funcs(FUNCS);
    HELPERS.with(|h| {
        for (i, text) in h.borrow().iter().enumerate() {
            t.add_template(format!("_helpers{i}"), text.as_str())
                .map_err(|e| format!("helpers: {e}"))?;
        }
        Ok::<(), String>(())
    })?;
    t.add_template(extra_name, extra)
        .map_err(|e| format!("{extra_name}: {e}"))?;
    t.name = extra_name.to_string();
    Ok(t)
}

/// Renders every template of the chart in `dir` (not `_*.tpl`, which only
/// define named templates) with `values.yaml` merged with `overrides`.
pub fn render(dir: &Path, release: &Release, overrides: Json) -> Result<Vec<Rendered>, String> {
    let chart: Json = read_yaml(&dir.join("Chart.yaml"))?;
    let mut values: Json = read_yaml(&dir.join("values.yaml"))?;
    merge(&mut values, overrides);
    let context = serde_json::json!({
        "Values": floats(values),
        "Release": {
            "Name": release.name,
            "Namespace": release.namespace,
            "Service": "Helm",
            "IsInstall": true,
            "IsUpgrade": false,
        },
        "Chart": {
            "Name": chart["name"],
            "Version": chart["version"],
            "AppVersion": chart["appVersion"],
            "Description": chart["description"],
        },
    });
    let context = to_gtmpl(&context);

    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("templates"))
        .map_err(|e| e.to_string())?
        .map(|e| e.map(|e| e.path()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut helpers = Vec::new();
    let mut templates = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{name}: {e}"))?;
        if name.starts_with('_') {
            helpers.push(text);
        } else {
            templates.push((name, text));
        }
    }
    HELPERS.with(|h| *h.borrow_mut() = helpers);

    let mut out = Vec::new();
    for (name, text) in templates {
        let t = template_set(&name, &text)?;
        let rendered = t
            .render(&Context::from(context.clone()))
            .map_err(|e| format!("{name}: {e}"))?;
        // Helm prints a missing value as "<no value>" and then blanks it;
        // here it is an error, so a misspelt `.Values` path cannot hide.
        if rendered.contains("<no value>") {
            return Err(format!(
                "{name}: refers to a value that does not exist:\n{rendered}"
            ));
        }
        out.push(Rendered {
            file: name,
            text: rendered,
        });
    }
    Ok(out)
}

pub fn read_yaml(path: &Path) -> Result<Json, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Helm's coalescing of user values over the chart's defaults.
pub fn merge(base: &mut Json, over: Json) {
    match (base, over) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(&k);
                } else if let Some(slot) = b.get_mut(&k) {
                    merge(slot, v);
                } else {
                    b.insert(k, v);
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn floats(v: Json) -> Json {
    match v {
        Json::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Json::Array(a) => Json::Array(a.into_iter().map(floats).collect()),
        Json::Object(o) => Json::Object(o.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        other => other,
    }
}

fn to_gtmpl(v: &Json) -> Value {
    match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(to_gtmpl).collect()),
        Json::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // A whole float prints as an integer, as Go's YAML does.
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    Json::from(f as i64)
                } else {
                    serde_json::Number::from_f64(f)
                        .map(Json::Number)
                        .unwrap_or(Json::Null)
                }
            }
        }
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        // Sorted, as Go's YAML writes maps (gtmpl's maps are HashMaps).
        Value::Object(o) | Value::Map(o) => Json::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        ),
    }
}

/// Go's notion of an empty value, which `default` and `if` test.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) | Value::Map(o) => o.is_empty(),
        Value::Function(_) => false,
    }
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::ExactlyXArgs(name.to_string(), n));
    }
    Ok(())
}

fn string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn number(name: &str, v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| FuncError::Generic(format!("{name}: not a number: {v}"))),
        Value::String(s) => s
            .parse()
            .map_err(|_| FuncError::Generic(format!("{name}: not a number: {s}"))),
        Value::NoValue | Value::Nil => Ok(0),
        other => Err(FuncError::Generic(format!("{name}: not a number: {other}"))),
    }
}

/// `include NAME CONTEXT`: a named template's output, as a string that can
/// be piped on (unlike `template`).
fn include(args: &[Value]) -> Result<Value, FuncError> {
    arity("include", args, 2)?;
    let name = string(&args[0]);
    let t = template_set(
        "include",
        &format!("{{{{ template {} . }}}}", Json::String(name.clone())),
    )
    .map_err(FuncError::Generic)?;
    let out = t
        .render(&Context::from(args[1].clone()))
        .map_err(|e| FuncError::Generic(format!("include {name}: {e}")))?;
    Ok(Value::String(out))
}

/// `toYaml V`: V as YAML without the trailing newline (Helm trims it).
fn to_yaml(args: &[Value]) -> Result<Value, FuncError> {
    arity("toYaml", args, 1)?;
    let json = to_json(&args[0]);
    let yaml = serde_saphyr::to_string(&json).map_err(|e| FuncError::Generic(e.to_string()))?;
    Ok(Value::String(yaml.trim_end_matches('\n').to_string()))
}

fn pad(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// `indent N S`: every line of S prefixed with N spaces.
fn indent(args: &[Value]) -> Result<Value, FuncError> {
    arity("indent", args, 2)?;
    Ok(Value::String(pad(
        number("indent", &args[0])?,
        &string(&args[1]),
    )))
}

/// `nindent N S`: a newline, then `indent N S`.
fn nindent(args: &[Value]) -> Result<Value, FuncError> {
    arity("nindent", args, 2)?;
    Ok(Value::String(format!(
        "\n{}",
        pad(number("nindent", &args[0])?, &string(&args[1]))
    )))
}

/// `quote S`: S in double quotes, escaped (Go's %q for the ASCII the chart has).
fn quote(args: &[Value]) -> Result<Value, FuncError> {
    let quoted: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a, Value::Nil | Value::NoValue))
        .map(|a| Json::String(string(a)).to_string())
        .collect();
    Ok(Value::String(quoted.join(" ")))
}

/// `default D V`: V unless it is empty, else D.
fn default(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [d] => Ok(d.clone()),
        [d, v] => Ok(if is_empty(v) { d.clone() } else { v.clone() }),
        _ => Err(FuncError::AtLeastXArgs("default".to_string(), 1)),
    }
}

/// `trunc N S`: the first N characters of S.
fn trunc(args: &[Value]) -> Result<Value, FuncError> {
    arity("trunc", args, 2)?;
    let n = number("trunc", &args[0])?.max(0) as usize;
    Ok(Value::String(string(&args[1]).chars().take(n).collect()))
}

/// `trimSuffix SUFFIX S`.
fn trim_suffix(args: &[Value]) -> Result<Value, FuncError> {
    arity("trimSuffix", args, 2)?;
    let (suffix, s) = (string(&args[0]), string(&args[1]));
    Ok(Value::String(
        s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_string(),
    ))
}

/// `contains SUBSTR S`.
fn contains(args: &[Value]) -> Result<Value, FuncError> {
    arity("contains", args, 2)?;
    Ok(Value::Bool(string(&args[1]).contains(&string(&args[0]))))
}

/// `replace OLD NEW S`.
fn replace(args: &[Value]) -> Result<Value, FuncError> {
    arity("replace", args, 3)?;
    Ok(Value::String(
        string(&args[2]).replace(&string(&args[0]), &string(&args[1])),
    ))
}

/// `int V`: V as an integer (values arrive as floats).
fn int(args: &[Value]) -> Result<Value, FuncError> {
    arity("int", args, 1)?;
    Ok(Value::from(number("int", &args[0])?))
}

/// `fail MSG`: stops rendering with MSG.
fn fail(args: &[Value]) -> Result<Value, FuncError> {
    arity("fail", args, 1)?;
    Err(FuncError::Generic(string(&args[0])))
}

/// Renders one template `text` with `helpers` defining named templates and
/// `values` as `.Values`: for testing the renderer itself against what Helm
/// prints.
pub fn render_text(helpers: &str, text: &str, values: Json) -> Result<String, String> {
    HELPERS.with(|h| *h.borrow_mut() = vec![helpers.to_string()]);
    let context = to_gtmpl(&serde_json::json!({ "Values": floats(values) }));
    template_set("text", text)?
        .render(&Context::from(context))
        .map_err(|e| e.to_string())
}
