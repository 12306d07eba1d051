//! Scenario files come from users: no input may panic the parser, and every
//! rejection must say where the problem is.

use canaryd_driver::scenario::{Scenario, ScenarioError};
use proptest::prelude::*;
use std::path::Path;

fn example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios/promoted.yaml");
    std::fs::read_to_string(p).unwrap()
}

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    // Inline policies only: a relative path would be resolved against this fake file's directory.
    Scenario::parse(Path::new("/nonexistent/fuzz.yaml"), text)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn mutated_examples_never_panic(cut in 0usize..4000, insert in "[ -~\\n]{0,12}") {
        let base = example();
        let at = base.char_indices().map(|(i, _)| i).nth(cut % base.chars().count()).unwrap_or(0);
        let mut text = base.clone();
        text.insert_str(at, &insert);
        let _ = parse(&text);
    }
}

#[test]
fn hostile_documents_are_rejected_not_exploded() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    assert!(parse(bomb).is_err());
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse(&deep).is_err());
}

#[test]
fn the_shipped_example_parses_with_its_anchors() {
    let s = parse(&example()).unwrap();
    assert_eq!(s.steps.len(), 8);
    assert_eq!(s.key.revision.0, "v2.4.1");
}

#[test]
fn errors_carry_a_location() {
    let text = example().replace("requests: 1500,", "requests: lots,");
    let err = parse(&text).unwrap_err();
    assert!(
        matches!(err, ScenarioError::Syntax { line, .. } if line > 0),
        "{err}"
    );
    assert!(err.to_string().contains("fuzz.yaml:"), "{err}");
}
