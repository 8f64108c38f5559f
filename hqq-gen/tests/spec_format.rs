//! The example in the crate's spec-format documentation is a valid spec.

#[test]
fn the_documented_example_spec_is_valid() {
    let doc = include_str!("../src/spec_format.md");
    let start = doc.find("```yaml\n").expect("a yaml example") + "```yaml\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    let spec = hqq_gen::Spec::parse(&doc[start..end], "spec_format.md")
        .unwrap_or_else(|e| panic!("the documented example does not parse:\n{e}"));
    assert_eq!(spec.opcodes.len(), 1);
    assert_eq!(spec.flags[0].rules.len(), 2);
    assert_eq!(spec.methods.len(), 1);
}
