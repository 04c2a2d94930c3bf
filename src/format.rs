//! Output formatting as Docker's CLI does it: `--format` with a small subset of Go templates
//! (`{{.Field}}`, `{{.A.B}}`, `{{json .}}`, `{{index .M "k"}}`, `{{join .L ","}}`, `{{upper}}`,
//! `{{lower}}`, `{{title}}`, `{{truncate .S n}}`), `table ...` and `json`; and Docker's
//! human-readable sizes and durations (go-units' rules).

use serde_json::Value;

/// A parsed `--format` value.
pub enum Format {
    /// The command's default table.
    DefaultTable,
    /// `json`: one JSON object per line.
    Json,
    /// `table <template>`: a header row, then the template per item, through the tabwriter.
    Table(String),
    /// A bare template, one line per item.
    Template(String),
}

impl Format {
    pub fn parse(format: Option<&str>) -> Format {
        match format.map(str::trim) {
            None | Some("") | Some("table") => Format::DefaultTable,
            Some("json") => Format::Json,
            Some(f) => {
                let f = f.replace("\\t", "\t").replace("\\n", "\n");
                match f.strip_prefix("table ") {
                    Some(t) => Format::Table(t.trim_start().to_string()),
                    None => Format::Template(f),
                }
            }
        }
    }
}

/// Renders `items` with `format`; `default` is the default table's template and `header` maps
/// a field name to its column title (`ID` -> `IMAGE ID`).
pub fn render(
    format: &Format,
    items: &[Value],
    default: &str,
    header: &dyn Fn(&str) -> String,
) -> Result<String, String> {
    let table_of = |template: &str| -> Result<String, String> {
        let mut rows = vec![header_row(template, header)];
        for item in items {
            rows.push(execute(template, item)?.split('\t').map(str::to_string).collect());
        }
        Ok(crate::printer::table(&rows))
    };
    match format {
        Format::DefaultTable => table_of(default),
        Format::Table(t) => table_of(t),
        Format::Json => {
            Ok(items.iter().map(|i| format!("{}\n", serde_json::to_string(i).unwrap_or_default())).collect())
        }
        Format::Template(t) => {
            let mut out = String::new();
            for item in items {
                out.push_str(&execute(t, item)?);
                out.push('\n');
            }
            Ok(out)
        }
    }
}

/// The header row of a table template: each `{{.Field}}` becomes its title.
fn header_row(template: &str, header: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut cells = Vec::new();
    for cell in template.split('\t') {
        let mut title = String::new();
        let mut rest = cell;
        while let Some(start) = rest.find("{{") {
            title.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                break;
            };
            let action = rest[start + 2..start + end].trim();
            let field =
                action.split_whitespace().find(|w| w.starts_with('.')).unwrap_or(action).trim_start_matches('.');
            title.push_str(&header(field));
            rest = &rest[start + end + 2..];
        }
        title.push_str(rest);
        cells.push(title);
    }
    cells
}

/// Executes a template against one value.
pub fn execute(template: &str, data: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or_else(|| format!("template: unclosed action in {template:?}"))?;
        let action = rest[start + 2..start + end].trim().trim_start_matches('-').trim_end_matches('-').trim();
        out.push_str(&eval(action, data)?);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits an action into words, keeping quoted strings whole.
fn words(action: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            while let Some(c) = chars.next() {
                match c {
                    '\\' => s.extend(chars.next()),
                    '"' => break,
                    c => s.push(c),
                }
            }
            words.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            words.push(s);
        }
    }
    words
}

fn arg(word: &str, data: &Value) -> Result<Value, String> {
    if let Some(s) = word.strip_prefix('"') {
        return Ok(Value::String(s.to_string()));
    }
    if word == "." {
        return Ok(data.clone());
    }
    if let Some(path) = word.strip_prefix('.') {
        let mut v = data;
        for key in path.split('.') {
            v = match v {
                Value::Object(map) => map.get(key).ok_or_else(|| format!("template: can't evaluate field {key}"))?,
                Value::Null => return Ok(Value::Null),
                _ => return Err(format!("template: can't evaluate field {key}")),
            };
        }
        return Ok(v.clone());
    }
    if let Ok(n) = word.parse::<i64>() {
        return Ok(Value::from(n));
    }
    Err(format!("template: function {word:?} not defined"))
}

fn eval(action: &str, data: &Value) -> Result<String, String> {
    let words = words(action);
    let Some(first) = words.first() else {
        return Ok(String::new());
    };
    let args = |n: usize| -> Result<Vec<Value>, String> {
        let values = words[1..].iter().map(|w| arg(w, data)).collect::<Result<Vec<_>, _>>()?;
        if values.len() != n {
            return Err(format!("template: wrong number of args for {first}: want {n} got {}", values.len()));
        }
        Ok(values)
    };
    Ok(match first.as_str() {
        "json" => serde_json::to_string(&args(1)?[0]).unwrap_or_default(),
        "upper" => go_string(&args(1)?[0]).to_uppercase(),
        "lower" => go_string(&args(1)?[0]).to_lowercase(),
        "title" => {
            let s = go_string(&args(1)?[0]);
            let mut c = s.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        }
        "index" => {
            let a = args(2)?;
            match (&a[0], &a[1]) {
                (Value::Object(m), Value::String(k)) => m.get(k).map(go_string).unwrap_or_else(|| "<no value>".into()),
                (Value::Array(l), Value::Number(i)) => l
                    .get(i.as_u64().unwrap_or(u64::MAX) as usize)
                    .map(go_string)
                    .ok_or("template: index out of range")?,
                _ => return Err("template: can't index item".into()),
            }
        }
        "join" => {
            let a = args(2)?;
            let sep = go_string(&a[1]);
            match &a[0] {
                Value::Array(l) => l.iter().map(go_string).collect::<Vec<_>>().join(&sep),
                other => go_string(other),
            }
        }
        "truncate" => {
            let a = args(2)?;
            let n = a[1].as_u64().unwrap_or(0) as usize;
            go_string(&a[0]).chars().take(n).collect()
        }
        "println" => {
            words[1..].iter().map(|w| arg(w, data).map(|v| go_string(&v))).collect::<Result<Vec<_>, _>>()?.join(" ")
                + "\n"
        }
        _ if words.len() == 1 => go_string(&arg(first, data)?),
        other => return Err(format!("template: function {other:?} not defined")),
    })
}

/// Prints a value as Go's text/template prints the equivalent Go value.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(l) => format!("[{}]", l.iter().map(go_string).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            format!("map[{}]", keys.iter().map(|k| format!("{k}:{}", go_string(&m[*k]))).collect::<Vec<_>>().join(" "))
        }
    }
}

/// Sizes as Docker prints them: decimal units, three significant digits (`4.26MB`, `856kB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant(size, 3), UNITS[unit])
}

/// Sizes as Docker's `stats` prints them: binary units, four significant digits (`1.5MiB`).
pub fn human_size_binary(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", significant(size, 4), UNITS[unit])
}

/// `%.Ng` for values below 1000: N significant digits, trailing zeros dropped.
fn significant(value: f64, digits: i32) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{value:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// How long ago, as Docker prints it (`2 hours ago`, `About a minute ago`).
pub fn human_since(then: chrono::DateTime<chrono::Utc>) -> String {
    let seconds = (chrono::Utc::now() - then).num_seconds();
    format!("{} ago", human_duration(seconds))
}

pub fn human_duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    let hours = (seconds as f64 / 3600.0 + 0.5) as i64;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// Parses an RFC 3339 time as images record it.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// What every `inspect` prints: a JSON array (Docker's indentation), or each item through the
/// `--format` template. Returns the exit status: 1 when a name was unknown, as Docker's.
pub fn print_inspect(found: Vec<Value>, format: Option<&str>, failed: bool) -> anyhow::Result<i32> {
    match format {
        None | Some("json") => crate::printer::line(&serde_json::to_string_pretty(&Value::Array(found))?),
        Some(f) => {
            for item in &found {
                crate::printer::line(&execute(f, item).map_err(anyhow::Error::msg)?);
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(4_261_234), "4.26MB");
        assert_eq!(human_size(856_000), "856kB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(12_500), "12.5kB");
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(20 * 24 * 3600), "2 weeks");
    }

    #[test]
    fn templates() {
        let v = json!({"ID": "abc", "Labels": {"a": "b"}, "Tags": ["x", "y"], "Config": {"Cmd": ["sh"]}});
        assert_eq!(execute("{{.ID}}:{{index .Labels \"a\"}}", &v).unwrap(), "abc:b");
        assert_eq!(execute("{{join .Tags \",\"}} {{.Config.Cmd}}", &v).unwrap(), "x,y [sh]");
        assert_eq!(execute("{{json .Labels}}", &v).unwrap(), "{\"a\":\"b\"}");
        assert!(execute("{{.Nope}}", &v).is_err());
    }
}
