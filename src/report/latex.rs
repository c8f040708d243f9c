//! `sweep report --format latex`: the report's tables as booktabs LaTeX, ready
//! to `\input` into a paper. The tables are exactly the Markdown report's (the
//! same Rust code computes every cell: mean ± sample std with the seed count,
//! the best value in bold, the paper's numbers and Δ where the template has
//! them); this module only typesets them. Needs `\usepackage{booktabs}`.
use super::aggregate::Group;
use super::collect::Collected;
use super::paper_tables::{self, Matcher};
use super::render::{self, Table, TitledTable};
use super::ReportError;

/// The tables of the plan's template, in report order, with their titles.
pub fn tables(c: &Collected, groups: &[Group]) -> Result<Vec<TitledTable>, ReportError> {
    let name = if c.plan.template.is_empty() { "generic" } else { c.plan.template.as_str() };
    if render::template_source(name).is_none() {
        return Err(ReportError::UnknownTemplate {
            name: name.to_string(),
            available: crate::record::Template::names(),
        });
    }
    let titled = |title: &str, table: Table| TitledTable { title: title.to_string(), table };
    let mut m = Matcher::new(groups);
    let mut out = match name {
        "table3" => {
            let mut t: Vec<TitledTable> = paper_tables::table3(&mut m)
                .into_iter()
                .map(|t| titled(&format!("Table III, {}", t.title), t.table))
                .collect();
            t.push(titled("Appendix: ConCURL with ResNet-18 and ResNet-34", paper_tables::appendix(&mut m)));
            t
        }
        "table4" => vec![titled("Table IV: loss-weight settings", paper_tables::table4(&mut m))],
        "table5" => paper_tables::table5(&mut m)
            .into_iter()
            .map(|t| titled(&format!("Table V, {}", t.title), t.table))
            .collect(),
        _ => Vec::new(),
    };
    out.push(titled("All settings", render::groups_table(groups)));
    if let Some(b) = render::baselines(c) {
        out.push(titled("Baselines measured in every run", b));
    }
    Ok(out)
}

/// The whole `.tex` file: one `table` environment per table.
pub fn render_latex(c: &Collected, groups: &[Group]) -> anyhow::Result<String> {
    let tables = tables(c, groups)?;
    let label = label_safe(&c.plan.sweep);
    let mut out = format!(
        "% Sweep `{}` (template `{}`), from `sweep report --format latex`.\n% Needs \\usepackage{{booktabs}}. Cells: mean $\\pm$ sample std (number of seeds); best in bold.\n",
        c.plan.sweep,
        if c.plan.template.is_empty() { "generic" } else { &c.plan.template }
    );
    if !c.plan.overrides.is_empty() {
        out.push_str(&format!("% Command-line overrides: --set {}\n", c.plan.overrides.join(" --set ")));
    }
    for (i, t) in tables.iter().enumerate() {
        out.push('\n');
        out.push_str(&table_env(t, &format!("tab:{label}-{}", i + 1)));
    }
    Ok(out)
}

fn table_env(t: &TitledTable, label: &str) -> String {
    let spec: String = t.table.align.iter().map(|a| if a.ends_with(':') { 'r' } else { 'l' }).collect();
    let row = |cells: &[String]| cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" & ") + " \\\\\n";
    let mut s = String::new();
    s.push_str("\\begin{table}[t]\n\\centering\n");
    s.push_str(&format!("\\caption{{{}}}\n\\label{{{label}}}\n", cell(&t.title)));
    s.push_str(&format!("\\begin{{tabular}}{{{spec}}}\n\\toprule\n"));
    s.push_str(&row(&t.table.head));
    s.push_str("\\midrule\n");
    for r in &t.table.rows {
        s.push_str(&row(r));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    s
}

/// A `tab:` label from a sweep name: letters, digits and `-`.
fn label_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// One Markdown table cell (the report's own small vocabulary: `**bold**`,
/// `` `code` ``, `\|`, ±, Δ, —) as LaTeX, every special character escaped.
pub fn cell(md: &str) -> String {
    let mut out = String::new();
    let (mut bold, mut code) = (false, false);
    let mut chars = md.chars().peekable();
    let mut prev = ' ';
    while let Some(ch) = chars.next() {
        let after_space = prev == ' ' || prev == '(';
        prev = ch;
        match ch {
            // A negative number's sign is a minus, not a hyphen.
            '-' if after_space && chars.peek().is_some_and(char::is_ascii_digit) => out.push_str("$-$"),
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(if bold { "}" } else { "\\textbf{" });
                bold = !bold;
            }
            '`' => {
                out.push_str(if code { "}" } else { "\\texttt{" });
                code = !code;
            }
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                out.push_str("\\textbar{}");
            }
            '±' => out.push_str("$\\pm$"),
            'Δ' => out.push_str("$\\Delta$"),
            '—' => out.push_str("---"),
            '–' => out.push_str("--"),
            '−' => out.push_str("$-$"),
            '≥' => out.push_str("$\\geq$"),
            '≤' => out.push_str("$\\leq$"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '\\' => out.push_str("\\textbackslash{}"),
            '|' => out.push_str("\\textbar{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            c => out.push(c),
        }
    }
    // An unbalanced marker (never produced by the report) still compiles.
    if bold {
        out.push('}');
    }
    if code {
        out.push('}');
    }
    out
}
