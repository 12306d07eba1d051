//! Each preset, shown in full (`canaryd policy show`), is exactly the text in
//! `tests/presets/<name>.yaml`. The files were written from the presets as
//! they were before they were rebuilt from a shared base, so this pins that
//! rebuild (and any later change) to the same policies field for field: the
//! shown YAML reads back to the identical `Policy` (see
//! `every_preset_round_trips_through_yaml`).

use canaryd_policy::{policy_to_yaml, preset, PRESET_NAMES};

fn expected(name: &str) -> &'static str {
    match name {
        "slo-ratio" => include_str!("presets/slo-ratio.yaml"),
        "absolute-slo" => include_str!("presets/absolute-slo.yaml"),
        "progressive" => include_str!("presets/progressive.yaml"),
        "adaptive-weight" => include_str!("presets/adaptive-weight.yaml"),
        "statistical" => include_str!("presets/statistical.yaml"),
        "canaryd" => include_str!("presets/canaryd.yaml"),
        other => panic!("no pinned YAML for preset {other}: add tests/presets/{other}.yaml"),
    }
}

#[test]
fn every_preset_renders_to_its_pinned_yaml() {
    for name in PRESET_NAMES {
        let p = preset(name).unwrap_or_else(|| panic!("preset {name} does not resolve"));
        assert_eq!(policy_to_yaml(&p), expected(name), "preset {name}");
    }
}
