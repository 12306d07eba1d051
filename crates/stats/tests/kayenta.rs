//! Kayenta's published test vectors, reproduced against `canaryd_stats::kayenta`.
//!
//! Sources (public repositories, read for data and expected outcomes only):
//! - MW: `spinnaker/spinnaker`, `kayenta-mannwhitney/src/test/scala/com/netflix/kayenta/mannwhitney/MannWhitneySuite.scala`
//!   (commit 19d0e149); R's `wilcox.test` values, compared there at 1e-6
//!   (intervals) and 1e-4 (estimates). We require 1e-6 where Kayenta does
//!   and never looser than 1e-4.
//! - CLS: `spinnaker/spinnaker`, `kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ClassifierSuite.scala`
//!   (commit b37a2681): Mann-Whitney classifier outcomes.
//! - SCORE: `spinnaker/spinnaker`, `kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ScorerSuite.scala`
//!   (commit 9ef083fb): weighted-sum scorer outcomes.
//!
//! Kayenta's classifier suite passes tolerance / confidence explicitly
//! (0.10 / 0.95 mostly) where its judge uses 0.25 / 0.98; so do we.

// The vectors are kept digit for digit as published (some carry more digits
// than an f64 holds), so that they can be compared with their source.
#![allow(clippy::excessive_precision)]

use canaryd_stats::kayenta::{
    self, Classification, Direction, EffectSize, EffectSizeMeasure, MetricConfig, MetricResult,
    NanStrategy, OutlierStrategy, ScoreClassification, Thresholds,
};
use canaryd_stats::StatsError;

// ---------------------------------------------------------------- data (CLS)

/// CLS "Pass Metric" experiment (also the Low-metric experiment).
#[rustfmt::skip]
const CLS_A: [f64; 30] = [
    9.7767343120109462, 10.587071850477695, 7.8375506388901766, 9.3243326886113884,
    8.3774505409784421, 8.9359264399606282, 8.2707663324728511, 9.7484308126716925,
    11.623746715547156, 9.2753442679633942, 8.1538047749171518, 10.562020975754294,
    13.498135575451835, 11.054419256110332, 6.9538903590055092, 12.521008342195479,
    9.0216358603546443, 4.9234856699531662, 11.251360203607172, 11.598449508040337,
    8.435232204668182, 11.110228516867279, 10.70063380164755, 8.9212773652115249,
    10.086167067942661, 11.42107515483087, 9.3792347813644952, 7.7980320148552593,
    10.62339807275746, 11.909642062063739,
];

/// CLS control of the Pass and High metrics.
#[rustfmt::skip]
const CLS_C: [f64; 30] = [
    11.1453586774086, 9.9618059885597017, 7.068574306369829, 7.3012661810483657,
    9.7944630265656727, 9.6037918603687302, 6.1867793350339388, 12.345599159550174,
    10.371891733859533, 8.6094300785016724, 9.913162673361084, 10.361375299003466,
    14.206800387518818, 10.946153754753301, 10.215876627044048, 11.739760899484603,
    10.907627468626439, 12.823353694464775, 8.1018609771732137, 8.4981616408804932,
    12.113441374697231, 13.272210809932028, 10.114579381663297, 6.9463958767978067,
    6.2105278541727778, 10.160401684903775, 8.3457712066455461, 8.383822063895833,
    7.0020205070083765, 10.755757401808442,
];

/// CLS "High Metric" experiment.
#[rustfmt::skip]
const CLS_H: [f64; 30] = [
    20.878412601720026, 21.78550581191622, 19.70828084717019, 15.859946903461562,
    19.510058772176841, 19.392005525270303, 22.926528314912101, 17.156530276709894,
    18.655117916226171, 23.422607911610392, 24.055817684156644, 22.62689958516501,
    21.979472967817678, 21.659318607218694, 20.067707574072426, 22.119570836305414,
    16.44037132663307, 21.559622826341268, 21.000181443489218, 17.779369411412663,
    17.806006358943584, 18.537200618386109, 20.555550300210797, 19.552928184468378,
    21.771118944087092, 21.809622806176627, 20.961762909905271, 20.977571577503021,
    19.106303205498794, 16.976918966987078,
];

/// CLS control of the Low metric.
#[rustfmt::skip]
const CLS_L: [f64; 30] = [
    20.758113589510348, 22.802059629464559, 20.612340363492208, 20.973274654749986,
    23.469237330498622, 21.53133988954805, 21.767353687439805, 18.308050730374301,
    19.062145167827566, 25.879498436001779, 18.982629726336128, 19.387920182269266,
    18.995398251246982, 24.228420230932805, 20.050985172694688, 18.2340451091756,
    17.870515494460435, 23.058103863806618, 18.400259567501134, 16.971352091177167,
    19.467529066052151, 17.90465423342031, 17.553948617825831, 16.104611843907193,
    24.38171081433039, 15.919294339922635, 20.479409626304697, 19.08307201492406,
    17.455788050722866, 18.853826823235142,
];

/// Error-rate-like series with many zeros: CLS "High Metric (Large Input)"
/// experiment, identical to MW "Intermediate Values" `x`.
#[rustfmt::skip]
const LARGE_X: &[f64] = &[
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.6666666666666572, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    3.7037037037036811, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5625000000000142, 0.0, 0.0, 0.0, 0.0,
    3.3333333333333428, 0.0, 1.7543859649122737, 0.0, 1.8518518518518476, 0.0, 0.0, 1.8518518518518476,
    0.0, 0.0, 1.5151515151515156, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.7857142857142776,
    1.3333333333333286, 0.0, 3.1250000000000142, 1.9607843137255117, 1.4492753623188293,
    2.4390243902438868, 1.6393442622950687, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.6129032258064484,
    1.9607843137255117, 1.5873015873015817, 0.0, 0.0, 2.8169014084507182, 0.0, 0.0, 3.0303030303030454,
    0.0, 0.0, 3.3898305084745743, 0.0, 0.0, 1.234567901234584, 0.0, 0.0, 0.0, 0.0, 1.7241379310344769,
    0.0, 0.0, 0.0, 0.0, 1.6949152542372872, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.470588235294116, 0.0,
    0.0, 1.3698630136986196, 3.225806451612911, 1.7543859649122879, 3.4482758620689538, 0.0,
    3.3333333333333428, 0.0, 0.0, 0.0, 1.818181818181813, 0.0, 0.0, 1.4285714285714448, 0.0, 0.0,
    1.8867924528301927, 2.0000000000000284, 0.0, 0.0, 0.0, 2.985074626865682, 0.0, 0.0,
    1.6666666666666714, 0.0, 0.0, 1.5625, 1.9230769230769198, 0.0, 1.8518518518518619, 0.0,
    2.7027027027027088, 0.0, 0.0, 0.0, 1.3513513513513544, 0.0, 1.818181818181813, 0.0,
    1.6666666666666572, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.818181818181813, 0.0, 1.4285714285714164,
    0.0, 0.0, 4.1095890410959015, 0.0, 0.0, 0.0, 1.8518518518518619, 0.0, 0.0, 1.8518518518518476,
    1.3888888888888857, 0.0, 0.0, 0.0, 0.0, 1.8867924528301785, 1.4285714285714164, 0.0, 0.0, 1.5625,
    1.8867924528301927, 0.0, 0.0, 0.0, 0.0, 2.040816326530603, 1.818181818181813, 0.0, 0.0,
    1.6393442622950687, 0.0, 1.7241379310344769, 1.5151515151515156, 2.564102564102555, 0.0, 0.0, 0.0,
    0.0, 5.5555555555555571, 0.0, 0.0, 4.0816326530612059, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    3.5714285714285836, 0.0, 2.040816326530603, 3.1746031746031633, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0,
];

/// The matching control: CLS "Large Input" control, MW "Intermediate Values" `y`.
#[rustfmt::skip]
const LARGE_Y: &[f64] = &[
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5625000000000142, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 1.3888888888888857, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5384615384615614, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.4925373134328339, 0.0, 0.0, 0.0,
    1.6949152542373014, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    1.470588235294116, 0.0, 0.0, 0.0, 0.0, 1.7543859649122879, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    1.8518518518518619, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    1.6393442622950687, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.7241379310344769, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5873015873015817, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.4925373134328339, 0.0, 0.0, 0.0,
    3.1249999999999858, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.4925373134328339, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    2.9850746268656536, 0.0, 2.5000000000000284, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 1.7857142857142776, 0.0, 0.0, 0.0,
];

/// CLS "CLES Effect Size: Pass" experiment.
#[rustfmt::skip]
const CLES_PASS_X: [f64; 60] = [
    0.00000000e+00, 0.00000000e+00, 1.46580998e-04, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 7.94701987e-05, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 2.68889486e-05, 0.00000000e+00,
    0.00000000e+00, 2.64935753e-05, 0.00000000e+00, 0.00000000e+00,
    0.00000000e+00, 2.61608895e-05, 1.27824931e-04, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 2.54511211e-05, 2.58665287e-05,
    7.63339355e-05, 0.00000000e+00, 2.54239443e-05, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 2.61001201e-05, 5.20101940e-05,
    0.00000000e+00, 2.64452319e-05, 5.27551370e-05, 7.83719533e-05,
    5.19467027e-05, 2.58344528e-05, 2.58899676e-05, 0.00000000e+00,
    2.59497613e-05, 2.57938043e-05, 7.78553448e-05, 2.60593110e-05,
    2.61001201e-05, 0.00000000e+00, 0.00000000e+00, 2.59349551e-05,
    2.60559160e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 2.58819267e-05,
    0.00000000e+00, 2.58825965e-05, 2.57572635e-05, 2.56877906e-05,
];

/// CLS "CLES Effect Size: Pass" control.
#[rustfmt::skip]
const CLES_PASS_Y: [f64; 60] = [
    0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    2.91528191e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    2.98284862e-05, 5.99916012e-05, 0.00000000e+00, 5.92276712e-05,
    0.00000000e+00, 2.98053709e-05, 0.00000000e+00, 2.97309350e-05,
    5.92153960e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    2.92800047e-05, 0.00000000e+00, 2.94550810e-05, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 5.83958656e-05, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    2.88600289e-05, 2.90334756e-05, 2.91740817e-05, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
    0.00000000e+00, 2.92765758e-05, 0.00000000e+00, 0.00000000e+00,
    0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 2.94637596e-05,
    5.89136326e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
];

/// CLS "CLES Effect Size: High" experiment.
#[rustfmt::skip]
const CLES_HIGH_X: [f64; 60] = [
    0.00689808, 0.00568664, 0.00680876, 0.00642045, 0.00561825,
    0.00472294, 0.00398378, 0.00392403, 0.00421201, 0.0047529,
    0.00460853, 0.00439888, 0.00561875, 0.01998866, 0.0124369,
    0.00624391, 0.00444361, 0.00442059, 0.00372095, 0.00540736,
    0.00715402, 0.00425974, 0.00414409, 0.01172436, 0.0125959,
    0.00371891, 0.00429855, 0.00369876, 0.00325709, 0.00415943,
    0.00371754, 0.00445212, 0.00521721, 0.00443938, 0.00380859,
    0.01602997, 0.00788885, 0.0038155, 0.00326921, 0.00336928,
    0.00365917, 0.00333869, 0.00427639, 0.00355911, 0.00381224,
    0.00360057, 0.00349305, 0.00401164, 0.00351947, 0.00356299,
    0.003407, 0.00414397, 0.00393346, 0.00413318, 0.00359041,
    0.00366314, 0.00309383, 0.00383733, 0.00363324, 0.00280674,
];

/// CLS "CLES Effect Size: High" control.
#[rustfmt::skip]
const CLES_HIGH_Y: [f64; 60] = [
    0.00081956, 0.00239282, 0.00133685, 0.00094917, 0.00029518,
    0.00035344, 0.00048194, 0.00034893, 0.0003202, 0.00079814,
    0.00090881, 0.00072599, 0.00037819, 0.00038286, 0.00057604,
    0.00064821, 0.00032194, 0.0002245, 0.00025202, 0.00071997,
    0.00022721, 0.00042578, 0.00042496, 0.00045613, 0.00037072,
    0.0003317, 0.00032889, 0.00032749, 0.00036093, 0.00029285,
    0.00038401, 0.00044467, 0.00071086, 0.00036692, 0.00052079,
    0.00074974, 0.00128791, 0.00062046, 0.00086345, 0.00118563,
    0.00103379, 0.00028913, 0.00057628, 0.00057943, 0.00048735,
    0.00029409, 0.0002005, 0.00016612, 0.00089312, 0.00059367,
    0.00061706, 0.00163313, 0.00097784, 0.00029305, 0.00058839,
    0.00085212, 0.00048298, 0.00035546, 0.00025866, 0.00038767,
];

/// CLS "CLES Effect Size: Low" experiment.
#[rustfmt::skip]
const CLES_LOW_X: [f64; 30] = [
    24.24693907, 26.13330099, 22.50056744, 24.36646841, 23.19935673,
    19.43801304, 20.99654102, 18.90793651, 21.31949881, 21.83528381,
    21.64211206, 23.13365968, 21.09163134, 19.45540615, 20.74783158,
    22.25527831, 19.82051791, 20.9865487, 19.94450026, 23.2904056,
    18.18408424, 22.13843542, 19.42896044, 19.84140464, 23.91557662,
    21.00981557, 21.8594633, 23.11630163, 22.95700392, 17.80045135,
];

/// CLS "CLES Effect Size: Low" control.
#[rustfmt::skip]
const CLES_LOW_Y: [f64; 30] = [
    25.09626848, 26.15032198, 24.88431438, 24.18870163, 22.14684987,
    28.01743443, 21.29910501, 27.24688773, 28.64187535, 27.03504445,
    24.67888311, 22.35137878, 27.41640397, 26.00225548, 23.02118534,
    25.99647292, 22.77446912, 25.56704719, 25.57025827, 21.2721602,
    23.12987357, 24.59111604, 27.48865016, 27.21967755, 23.5951111,
    22.5429607, 25.83015564, 23.31965305, 24.3911644, 25.11468194,
];

// ----------------------------------------------------------------- data (MW)

/// MW "Tie out with R Version" control.
#[rustfmt::skip]
const R_TIE_CONTROL: [f64; 90] = [
    1.5, 6.0, 5.0, 2.5, 2.5, 2.0, 2.0, 3.5, 3.0, 3.0, 3.0, 2.0, 3.0, 8.0, 4.0, 2.5, 3.0, 2.5, 2.5, 2.0,
    2.5, 2.0, 2.0, 2.5, 3.5, 3.0, 1.5, 5.0, 2.5, 5.5, 2.0, 2.5, 3.5, 2.0, 2.5, 4.0, 2.0, 2.0, 2.0, 2.0,
    5.5, 4.5, 4.0, 3.0, 3.0, 3.5, 2.5, 3.0, 2.5, 4.0, 6.0, 2.0, 5.0, 6.0, 3.5, 3.0, 54.5, 3.0, 5.0, 6.0,
    3.5, 4.5, 2.5, 2.0, 6.0, 5.0, 2.5, 3.5, 2.0, 3.0, 2.5, 3.5, 3.5, 2.5, 3.0, 4.5, 3.0, 15.5, 5.0, 2.5,
    3.0, 4.0, 3.5, 4.0, 4.0, 2.0, 4.5, 2.5, 4.0, 3.0,
];

/// MW "Tie out with R Version" experiment.
#[rustfmt::skip]
const R_TIE_EXPERIMENT: [f64; 90] = [
    2.5, 2.5, 2.0, 2.5, 3.5, 2.0, 3.5, 1.5, 3.0, 3.0, 2.5, 3.5, 2.0, 2.5, 2.0, 2.0, 5.0, 3.0, 2.0, 1.5,
    2.0, 4.0, 3.0, 2.5, 3.0, 2.0, 2.0, 2.0, 2.5, 3.5, 1.5, 1.5, 3.5, 2.0, 2.5, 2.5, 3.0, 3.5, 2.5, 6.5,
    2.5, 4.0, 2.5, 3.0, 2.5, 6.5, 2.5, 3.0, 1.5, 2.0, 2.5, 3.0, 7.5, 1.5, 2.0, 4.0, 2.5, 2.0, 2.5, 3.5,
    4.0, 2.5, 3.0, 2.5, 2.0, 3.5, 3.0, 16.5, 3.0, 3.0, 7.0, 4.5, 5.0, 2.0, 3.5, 6.0, 1.5, 3.0, 2.5, 4.0,
    3.0, 1.5, 5.0, 3.0, 2.5, 5.5, 3.0, 1.5, 2.5, 6.0,
];

/// MW "Tie out with R Version (Large)" experiment.
#[rustfmt::skip]
const R_LARGE_EXPERIMENT: [f64; 180] = [
    1.5, 2.0, 5.0, 1.5, 1.5, 8.5, 1.0, 1.0, 2.0, 1.0, 1.5, 0.5, 2.0, 1.5, 2.0, 1.5, 1.0, 2.5, 1.5, 1.5,
    2.0, 1.5, 1.5, 1.5, 2.0, 2.0, 1.0, 5.5, 1.5, 2.0, 1.5, 1.5, 1.0, 2.5, 1.0, 2.0, 1.5, 1.5, 2.0, 2.0,
    1.5, 1.5, 1.0, 1.0, 2.0, 0.5, 1.5, 0.5, 3.5, 1.5, 3.0, 19.0, 0.5, 1.5, 0.5, 1.5, 2.0, 1.5, 1.5, 1.5,
    1.5, 2.0, 1.5, 2.0, 2.0, 1.5, 1.0, 1.5, 1.0, 2.0, 1.0, 2.0, 1.5, 1.5, 3.0, 2.0, 1.5, 1.5, 0.5, 2.0,
    1.5, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.5, 1.0, 1.0, 2.0, 1.5, 1.5, 1.5, 0.5, 1.5, 1.5, 0.5, 1.0,
    1.5, 1.5, 1.5, 1.0, 2.0, 2.0, 2.0, 1.5, 1.0, 1.5, 1.0, 1.0, 1.5, 3.5, 2.0, 1.5, 1.0, 2.0, 1.5, 5.5,
    0.5, 2.0, 3.5, 1.5, 1.0, 2.0, 0.5, 2.5, 1.0, 1.5, 0.5, 2.0, 2.0, 1.0, 0.5, 1.5, 1.0, 1.5, 0.5, 0.5,
    1.0, 1.5, 1.0, 1.5, 0.5, 1.5, 1.0, 1.0, 0.5, 1.0, 0.5, 4.0, 1.0, 1.5, 2.0, 5.5, 1.5, 0.5, 2.0, 1.0,
    1.5, 1.0, 1.5, 1.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 2.0, 0.5, 1.5, 1.0, 2.0, 1.0, 1.0, 0.5, 1.0,
];

/// MW "Tie out with R Version (Large)" control.
#[rustfmt::skip]
const R_LARGE_CONTROL: [f64; 180] = [
    1.5, 1.5, 1.0, 2.0, 1.5, 1.5, 1.5, 2.0, 1.0, 1.0, 2.0, 1.5, 1.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 2.0,
    1.0, 1.5, 3.0, 2.0, 1.0, 1.5, 1.5, 1.5, 2.0, 1.5, 1.0, 1.0, 1.5, 2.5, 2.0, 0.0, 1.0, 2.0, 2.0, 1.5,
    3.0, 2.0, 1.0, 2.5, 0.5, 1.5, 0.5, 2.5, 2.0, 1.5, 1.5, 2.0, 1.0, 4.5, 2.5, 0.5, 2.5, 1.5, 1.5, 1.0,
    2.0, 1.0, 2.5, 1.5, 2.0, 1.5, 3.0, 1.5, 1.5, 1.5, 1.5, 2.0, 1.0, 2.5, 1.0, 1.5, 2.5, 1.5, 2.5, 2.0,
    1.5, 1.5, 1.5, 2.5, 1.0, 7.5, 1.5, 3.0, 5.5, 1.0, 1.5, 2.0, 1.0, 1.5, 2.5, 2.5, 1.0, 1.0, 2.5, 1.5,
    1.5, 3.0, 4.0, 1.0, 1.5, 2.0, 1.5, 1.5, 1.5, 2.5, 1.5, 3.5, 2.5, 1.5, 2.0, 1.0, 4.0, 1.5, 1.0, 1.5,
    2.5, 2.5, 2.0, 2.5, 1.5, 1.5, 2.0, 1.0, 1.5, 2.0, 1.5, 1.0, 2.5, 1.5, 1.5, 2.0, 2.0, 1.0, 1.5, 2.5,
    0.5, 2.0, 2.5, 2.0, 1.0, 2.0, 0.5, 1.5, 1.0, 2.5, 1.0, 1.5, 1.0, 7.0, 1.0, 3.5, 1.5, 2.0, 1.5, 1.5,
    2.0, 3.0, 1.5, 1.5, 2.0, 1.5, 2.0, 1.5, 4.0, 2.0, 1.5, 1.5, 1.5, 1.5, 1.5, 0.5, 2.0, 1.0, 1.5, 0.5,
];

// ------------------------------------------------------------------ helpers

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual:e}, expected {expected:e} (tolerance {tol:e})"
    );
}

/// The classifier as Kayenta's suite builds it: tolerance 0.10, level 0.95.
fn suite(direction: Direction) -> MetricConfig {
    MetricConfig {
        direction,
        tolerance: 0.10,
        confidence_level: 0.95,
        ..MetricConfig::new("test-metric")
    }
}

fn allowed(decrease: f64, increase: f64) -> EffectSize {
    EffectSize {
        allowed_decrease: decrease,
        allowed_increase: increase,
        ..EffectSize::MEAN_RATIO
    }
}

fn critical(decrease: f64, increase: f64) -> EffectSize {
    EffectSize {
        critical_decrease: decrease,
        critical_increase: increase,
        ..EffectSize::MEAN_RATIO
    }
}

fn classify(config: &MetricConfig, experiment: &[f64], control: &[f64]) -> MetricResult {
    kayenta::classify(config, experiment, control).expect("valid input")
}

const SMALL_HIGH_X: [f64; 5] = [20.0, 22.0, 21.0, 25.0, 30.0];
const SMALL_HIGH_Y: [f64; 5] = [1.0, 2.2, 1.1, 2.5, 3.0];

// ------------------------------------------------- MW: intervals and estimates

#[test]
fn mw_small_interval_and_estimate() {
    // MW "Mann-Whitney Confidence Interval & Estimate": (6, 39), 22.5.
    let r = kayenta::mann_whitney_interval(&[10.0, 20.0, 30.0, 40.0], &[1.0, 2.0, 3.0, 4.0], 0.95)
        .unwrap();
    close(r.low, 6.0, 1e-6, "low");
    close(r.high, 39.0, 1e-6, "high");
    close(r.estimate, 22.5, 1e-6, "estimate");
}

#[test]
fn mw_ties_out_with_r() {
    // MW "Tie out with R Version" (default level 0.95).
    let r = kayenta::mann_whitney_interval(&R_TIE_EXPERIMENT, &R_TIE_CONTROL, 0.95).unwrap();
    close(r.low, -0.500002521696696, 1e-6, "low");
    close(r.high, -3.486287505871302E-5, 1e-6, "high");
    close(r.estimate, -0.4999393907180323, 1e-4, "estimate");
}

#[test]
fn mw_ties_out_with_r_large() {
    // MW "Tie out with R Version (Large)", level 0.98.
    let r = kayenta::mann_whitney_interval(&R_LARGE_EXPERIMENT, &R_LARGE_CONTROL, 0.98).unwrap();
    close(r.low, -0.4999173250549087, 1e-6, "low");
    close(r.high, -6.912685789769486E-6, 1e-6, "high");
    close(r.estimate, -3.45044082729315E-5, 1e-4, "estimate");
}

#[test]
fn mw_intermediate_values() {
    // MW "Intermediate Values / Variables": R's internals for wilcox.test on
    // a zero-heavy error-rate series, level 0.95.
    let (x, y) = (LARGE_X, LARGE_Y);
    let mu_min = x.iter().copied().fold(f64::INFINITY, f64::min)
        - y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mu_max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - y.iter().copied().fold(f64::INFINITY, f64::min);
    close(mu_min, -3.124999999999986, 1e-6, "mu_min");
    close(mu_max, 5.555555555555557, 1e-6, "mu_max");
    let z = 1.9599639845400536;
    let w = |mu: f64, zq: f64| kayenta::wilcoxon_score(mu, zq, x, y).unwrap();
    close(w(mu_min, z), 17.090968923762254, 1e-6, "f_lower1");
    close(w(mu_max, z), -20.997687930433106, 1e-6, "f_upper1");
    close(w(mu_min, -z), 21.01089689284236, 1e-6, "f_lower2");
    close(w(mu_max, -z), -17.077759961353, 1e-6, "f_upper2");
    let r = kayenta::mann_whitney_interval(x, y, 0.95).unwrap();
    // With this many ties the two ends cross (low > high), in R as here.
    close(r.low, 3.521755377702165E-5, 1e-6, "ci lower");
    close(r.high, 2.02456461662334E-5, 1e-6, "ci upper");
    close(r.estimate, 2.6279243045155653E-5, 1e-6, "estimate");
}

#[test]
fn mw_interval_refuses_all_tied_and_bad_input() {
    assert!(matches!(
        kayenta::mann_whitney_interval(&[2.0, 2.0], &[2.0], 0.98),
        Err(StatsError::Undefined(_))
    ));
    assert!(matches!(
        kayenta::mann_whitney_interval(&[], &[1.0], 0.98),
        Err(StatsError::EmptySample { .. })
    ));
    assert!(matches!(
        kayenta::mann_whitney_interval(&[1.0, f64::NAN], &[1.0], 0.98),
        Err(StatsError::NotFinite { .. })
    ));
    assert!(matches!(
        kayenta::mann_whitney_interval(&[1.0], &[2.0], 1.0),
        Err(StatsError::InvalidParameter { .. })
    ));
}

// ------------------------------------------------------ CLS: classifier suite

#[test]
fn cls_pass_high_low() {
    // CLS "Test: Pass Metric", "Test: High Metric", "Test: Low Metric".
    let c = suite(Direction::Either);
    assert_eq!(
        classify(&c, &CLS_A, &CLS_C).classification,
        Classification::Pass
    );
    assert_eq!(
        classify(&c, &CLS_H, &CLS_C).classification,
        Classification::High
    );
    assert_eq!(
        classify(&c, &CLS_A, &CLS_L).classification,
        Classification::Low
    );
}

#[test]
fn cls_directional() {
    // CLS "Directional Test: Increase / Decrease / High Metric / Low Metric".
    let inc = suite(Direction::Increase);
    let dec = suite(Direction::Decrease);
    assert_eq!(
        classify(&inc, &CLS_A, &CLS_L).classification,
        Classification::Pass
    );
    assert_eq!(
        classify(&dec, &CLS_H, &CLS_C).classification,
        Classification::Pass
    );
    let high = classify(&inc, &CLS_H, &CLS_C);
    assert_eq!(high.classification, Classification::High);
    assert!(!high.critical);
    assert_eq!(
        classify(&dec, &CLS_A, &CLS_L).classification,
        Classification::Low
    );
}

#[test]
fn cls_high_large_input() {
    // CLS "Test: High Metric (Large Input)".
    let r = classify(&suite(Direction::Either), LARGE_X, LARGE_Y);
    assert_eq!(r.classification, Classification::High, "{r:?}");
    assert!(!r.critical);
}

#[test]
fn cls_mean_ratio_effect_size() {
    // CLS "Mean Ratio Effect Size: High / Low / Pass / Pass (Large Input)".
    let high = MetricConfig {
        effect_size: allowed(0.8, 1.2),
        ..suite(Direction::Either)
    };
    assert_eq!(
        classify(&high, &SMALL_HIGH_X, &SMALL_HIGH_Y).classification,
        Classification::High
    );
    let low = MetricConfig {
        effect_size: allowed(0.8, 1.2),
        ..suite(Direction::Decrease)
    };
    assert_eq!(
        classify(&low, &CLS_A, &CLS_L).classification,
        Classification::Low
    );
    let pass = MetricConfig {
        effect_size: allowed(0.5, 1.0),
        nan_strategy: NanStrategy::Remove,
        ..suite(Direction::Either)
    };
    let r = classify(&pass, &[10.0, 12.2, 10.1, 12.5, 23.0], &SMALL_HIGH_X);
    assert_eq!(r.classification, Classification::Pass, "{r:?}");
    let large = MetricConfig {
        effect_size: allowed(1.0, 5.0),
        ..suite(Direction::Either)
    };
    assert_eq!(
        classify(&large, LARGE_X, LARGE_Y).classification,
        Classification::Pass
    );
}

#[test]
fn cls_cles_effect_size() {
    // CLS "CLES Effect Size: Pass / High / Low" (tolerance 0.20, level 0.98).
    let cles = |decrease: f64, increase: f64| MetricConfig {
        tolerance: 0.20,
        confidence_level: 0.98,
        effect_size: EffectSize {
            measure: EffectSizeMeasure::Cles,
            allowed_decrease: decrease,
            allowed_increase: increase,
            ..EffectSize::CLES
        },
        ..MetricConfig::new("cles-metric")
    };
    let r = classify(&cles(0.5, 0.8), &CLES_PASS_X, &CLES_PASS_Y);
    assert_eq!(r.classification, Classification::Pass, "{r:?}");
    let r = classify(&cles(0.2, 0.8), &CLES_HIGH_X, &CLES_HIGH_Y);
    assert_eq!(r.classification, Classification::High, "{r:?}");
    let r = classify(&cles(0.2, 0.8), &CLES_LOW_X, &CLES_LOW_Y);
    assert_eq!(r.classification, Classification::Low, "{r:?}");
}

#[test]
fn cls_critical_effect_size() {
    // CLS "Critical Effect Size: Critical High / Critical Low / High / Pass /
    // Critical High (Default Thresholds)".
    let crit = |effect_size: EffectSize| MetricConfig {
        effect_size,
        critical: true,
        ..suite(Direction::Either)
    };
    let r = classify(&crit(critical(1.0, 1.2)), &SMALL_HIGH_X, &SMALL_HIGH_Y);
    assert_eq!((r.classification, r.critical), (Classification::High, true));

    let r = classify(
        &crit(critical(1.2, 1.0)),
        &[2.0, 2.0, 2.0, 2.0, 3.0],
        &[10.0, 20.2, 10.1, 20.5, 30.0],
    );
    assert_eq!((r.classification, r.critical), (Classification::Low, true));

    let both = |a: (f64, f64), c: (f64, f64)| EffectSize {
        allowed_decrease: a.0,
        allowed_increase: a.1,
        critical_decrease: c.0,
        critical_increase: c.1,
        ..EffectSize::MEAN_RATIO
    };
    let r = classify(
        &crit(both((1.0, 5.0), (1.0, 13.0))),
        &SMALL_HIGH_X,
        &SMALL_HIGH_Y,
    );
    assert_eq!(
        (r.classification, r.critical),
        (Classification::High, false)
    );
    let r = classify(
        &crit(both((1.0, 13.0), (1.0, 15.0))),
        &SMALL_HIGH_X,
        &SMALL_HIGH_Y,
    );
    assert_eq!(
        (r.classification, r.critical),
        (Classification::Pass, false)
    );

    let r = classify(&crit(EffectSize::MEAN_RATIO), &SMALL_HIGH_X, &SMALL_HIGH_Y);
    assert_eq!((r.classification, r.critical), (Classification::High, true));
}

#[test]
fn cls_ties_and_identical_data() {
    // CLS "Tied Observations", "Identical Populations", "Leading Zero
    // Identical Population", "Majority Tied Observations".
    let dec = suite(Direction::Decrease);
    assert_eq!(
        classify(&dec, &[1.0, 1.0, 1.0], &[1.0, 1.0]).classification,
        Classification::Pass
    );
    assert_eq!(
        classify(&dec, &[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 4.0, 3.0, 2.0, 1.0]).classification,
        Classification::Pass
    );
    assert_eq!(
        classify(&dec, &[0.0, 1.0, 1.0, 1.0, 1.0], &[1.0; 5]).classification,
        Classification::Pass
    );
    assert_eq!(
        classify(
            &suite(Direction::Either),
            &[1.0, 1.0, 1.0, 1.0, 10.0],
            &[1.0; 5]
        )
        .classification,
        Classification::Pass
    );
}

#[test]
fn cls_tied_ranks() {
    // CLS "Tied Ranks", "Tied Ranks With Zeros": two constant samples
    // (Kayenta jitters them; we use the jitter's limit).
    let c = suite(Direction::Either);
    assert_eq!(
        classify(&c, &[10.0; 5], &[1.0; 5]).classification,
        Classification::High
    );
    let r = classify(&c, &[10.0; 5], &[0.0; 5]);
    assert_eq!(r.classification, Classification::High);
    assert_eq!(r.effect_size, None);
}

#[test]
fn cls_missing_data() {
    // CLS "Missing Experiment Data", "... : Critical Metric", "... with NaN
    // Replacement", "Missing Data: Reason String".
    let dec = suite(Direction::Decrease);
    let ctl = [1.0, 2.0, 3.0, 4.0, 5.0];
    let r = classify(&dec, &[], &ctl);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::Nodata, false)
    );

    let crit = MetricConfig {
        critical: true,
        ..dec.clone()
    };
    let r = classify(&crit, &[], &ctl);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::Nodata, true)
    );

    let replace = MetricConfig {
        nan_strategy: NanStrategy::Replace,
        ..dec.clone()
    };
    assert_eq!(
        classify(&replace, &[], &ctl).classification,
        Classification::Pass
    );

    let r = classify(&crit, &[], &[]);
    assert!(r.reason.is_some_and(|s| !s.is_empty()));
}

#[test]
fn cls_zero_mean() {
    // CLS "Zero Mean: High Metric with Effect Size", "... Low Metric with
    // Effect Size", "... Critical Metric", "... Pass Metric".
    let es = MetricConfig {
        effect_size: allowed(0.8, 1.2),
        ..suite(Direction::Either)
    };
    let busy = [54.9, 54.5, 55.1, 55.6, 57.4];
    let r = classify(&es, &busy, &[0.0; 5]);
    assert_eq!(r.classification, Classification::High);
    assert_eq!(r.effect_size, None, "Kayenta's deviation is NaN");
    let r = classify(&es, &[0.0; 5], &busy);
    assert_eq!(r.classification, Classification::Low);
    assert_eq!(r.effect_size, None);

    let crit = MetricConfig {
        effect_size: critical(0.8, 1.2),
        nan_strategy: NanStrategy::Replace,
        critical: true,
        ..suite(Direction::Either)
    };
    let x = [
        0.05000000074505806,
        0.05000000074505806,
        0.01666666753590107,
        0.01666666753590107,
        0.01666666753590107,
        0.05000000074505806,
        0.03333333507180214,
        0.05000000260770321,
        0.05000000260770321,
        0.13333333656191826,
    ];
    let r = classify(&crit, &x, &[0.0; 10]);
    assert_eq!((r.classification, r.critical), (Classification::High, true));

    let r = classify(&es, &[0.0; 5], &[0.0; 5]);
    assert_eq!(r.classification, Classification::Pass);
    assert_eq!(r.effect_size, Some(1.0));
}

// ------------------------------------------------------- SCORE: scorer suite

fn result(name: &str, classification: Classification, group: &str) -> MetricResult {
    MetricResult {
        name: name.to_string(),
        groups: vec![group.to_string()],
        classification,
        critical: false,
        reason: None,
        effect_size: Some(1.0),
        interval: None,
        band: None,
        experiment_count: 0,
        control_count: 0,
        experiment_outliers: 0,
        control_outliers: 0,
    }
}

fn summary(weights: &[(&str, f64)], results: &[MetricResult]) -> f64 {
    kayenta::score(weights, results, Thresholds::default())
        .expect("valid weights")
        .score
}

#[test]
fn score_single_metric() {
    // SCORE "Single Metric Pass", "Single Metric Fail".
    let none: &[(&str, f64)] = &[];
    assert_eq!(
        summary(none, &[result("p", Classification::Pass, "test-group")]),
        100.0
    );
    assert_eq!(
        summary(none, &[result("h", Classification::High, "test-group")]),
        0.0
    );
}

#[test]
fn score_one_group() {
    // SCORE "One Group, Two Metrics", "One Group, Three Metrics".
    let none: &[(&str, f64)] = &[];
    let g = "test-group";
    let two = [
        result("p", Classification::Pass, g),
        result("h", Classification::High, g),
    ];
    assert_eq!(summary(none, &two), 50.0);
    let three = [
        result("p", Classification::Pass, g),
        result("h", Classification::High, g),
        result("l", Classification::Low, g),
    ];
    close(summary(none, &three), 33.33, 1e-2, "three metrics");
}

#[test]
fn score_two_groups() {
    // SCORE "Two Groups, Three Metrics", "... (Equal Weight)".
    let r = [
        result("p1", Classification::Pass, "group-1"),
        result("p2", Classification::Pass, "group-1"),
        result("f", Classification::High, "group-2"),
    ];
    assert_eq!(summary(&[("group-1", 75.0), ("group-2", 25.0)], &r), 75.0);
    let r = [
        result("p", Classification::Pass, "group-1"),
        result("f1", Classification::High, "group-1"),
        result("f2", Classification::High, "group-2"),
    ];
    assert_eq!(summary(&[("group-1", 50.0), ("group-2", 50.0)], &r), 25.0);
}

#[test]
fn score_no_data() {
    // SCORE "No Data": a single Nodata metric is >= 50% Nodata: score 0.
    let none: &[(&str, f64)] = &[];
    let s = kayenta::score(
        none,
        &[result("n", Classification::Nodata, "test-group")],
        Thresholds::default(),
    )
    .unwrap();
    assert_eq!(s.score, 0.0);
    assert_eq!(s.classification, ScoreClassification::Fail);
    assert!(s.reason.is_some());
}

// ------------------------------------------------- beyond the published suites

#[test]
fn judge_defaults_are_kayentas() {
    let c = MetricConfig::new("latency");
    assert_eq!(c.tolerance, 0.25);
    assert_eq!(c.confidence_level, 0.98);
    assert_eq!(c.direction, Direction::Either);
    assert_eq!(c.nan_strategy, NanStrategy::Remove);
    assert_eq!(c.outlier_strategy, OutlierStrategy::Keep);
    assert_eq!(c.effect_size, EffectSize::MEAN_RATIO);
    assert!(!c.critical && !c.must_have_data);
    // The suite's clear cases do not depend on the judge's wider settings.
    assert_eq!(
        classify(&c, &CLS_H, &CLS_C).classification,
        Classification::High
    );
    assert_eq!(
        classify(&c, &CLS_A, &CLS_C).classification,
        Classification::Pass
    );
    let r = classify(&c, &CLS_H, &CLS_C);
    let iv = r.interval.expect("the test ran");
    assert_eq!(iv.level, 0.98);
    let (lo, hi) = r.band.expect("band");
    close(hi, 0.25 * iv.estimate.abs(), 1e-12, "band");
    close(lo, -hi, 0.0, "symmetric band");
    close(
        r.effect_size.unwrap(),
        mean(&CLS_H) / mean(&CLS_C),
        1e-12,
        "ratio",
    );
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn must_have_data_fails_the_metric_not_the_canary() {
    let c = MetricConfig {
        must_have_data: true,
        ..MetricConfig::in_group("rps", "traffic")
    };
    let r = classify(&c, &[f64::NAN, f64::NAN], &[1.0, 2.0]);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::NodataFailMetric, false)
    );
    // It counts against its group: one failure and one pass = 50.
    let ok = result("ok", Classification::Pass, "traffic");
    let none: &[(&str, f64)] = &[];
    assert_eq!(summary(none, &[r, ok]), 50.0);
}

#[test]
fn nan_strategies() {
    let remove = MetricConfig::new("m");
    let replace = MetricConfig {
        nan_strategy: NanStrategy::Replace,
        ..MetricConfig::new("m")
    };
    let x = [1.0, f64::NAN, 3.0];
    let y = [1.0, 2.0, 3.0, f64::NAN];
    let r = classify(&remove, &x, &y);
    assert_eq!((r.experiment_count, r.control_count), (2, 3));
    let r = classify(&replace, &x, &y);
    assert_eq!((r.experiment_count, r.control_count), (3, 4));
    // Replace turns [NaN, NaN] into zeros, which equal the control: Pass.
    let r = classify(&replace, &[f64::NAN, f64::NAN], &[0.0, 0.0]);
    assert_eq!(r.classification, Classification::Pass);
}

#[test]
fn outlier_strategy_removes_only_far_points() {
    let keep = MetricConfig::new("m");
    let remove = MetricConfig {
        outlier_strategy: OutlierStrategy::REMOVE,
        ..MetricConfig::new("m")
    };
    // 200 well-behaved intervals and one scrape glitch.
    let mut x: Vec<f64> = (0..200).map(|i| 10.0 + f64::from(i % 7) * 0.1).collect();
    x.push(1_000.0);
    let y: Vec<f64> = (0..200).map(|i| 10.0 + f64::from(i % 5) * 0.1).collect();
    let r = classify(&keep, &x, &y);
    assert_eq!(r.experiment_outliers, 0);
    let r = classify(&remove, &x, &y);
    assert_eq!((r.experiment_outliers, r.control_outliers), (1, 0));
    assert_eq!(r.experiment_count, 200);
    // Kayenta widens the fences to the 1st/99th percentiles; with fewer than
    // 100 values those are the extremes, so nothing is ever removed.
    let short: Vec<f64> = x[150..].to_vec();
    let r = classify(&remove, &short, &y);
    assert_eq!(r.experiment_outliers, 0);
    let bad = MetricConfig {
        outlier_strategy: OutlierStrategy::Remove { factor: 0.0 },
        ..MetricConfig::new("m")
    };
    assert!(kayenta::classify(&bad, &x, &y).is_err());
}

#[test]
fn invalid_input_is_an_error_not_a_verdict() {
    let c = MetricConfig::new("m");
    assert!(matches!(
        kayenta::classify(&c, &[1.0, f64::INFINITY], &[1.0, 2.0]),
        Err(StatsError::NotFinite {
            which: "experiment",
            index: 1,
            ..
        })
    ));
    for bad in [
        MetricConfig {
            confidence_level: 1.0,
            ..c.clone()
        },
        MetricConfig {
            tolerance: f64::NAN,
            ..c.clone()
        },
        MetricConfig {
            effect_size: allowed(1.0, f64::INFINITY),
            ..c.clone()
        },
    ] {
        assert!(matches!(
            kayenta::classify(&bad, &[1.0, 2.0], &[3.0, 4.0]),
            Err(StatsError::InvalidParameter { .. })
        ));
    }
    let none: &[(&str, f64)] = &[];
    assert!(kayenta::score(&[("a", -1.0)], &[], Thresholds::default()).is_err());
    assert!(kayenta::score(&[("a", 50.0), ("a", 50.0)], &[], Thresholds::default()).is_err());
    let inverted = Thresholds {
        pass: 50.0,
        marginal: 90.0,
    };
    assert!(kayenta::score(none, &[], inverted).is_err());
}

#[test]
fn critical_failure_zeroes_the_score() {
    let crit = MetricConfig {
        critical: true,
        ..MetricConfig::in_group("errors", "errors")
    };
    let failed = classify(&crit, &CLS_H, &CLS_C);
    assert!(failed.critical);
    let mut results: Vec<MetricResult> = (0..9)
        .map(|i| result(&format!("ok{i}"), Classification::Pass, "latency"))
        .collect();
    results.push(failed);
    let s = kayenta::score(
        &[("latency", 90.0), ("errors", 10.0)],
        &results,
        Thresholds::default(),
    )
    .unwrap();
    assert_eq!(s.score, 0.0);
    assert_eq!(s.classification, ScoreClassification::Fail);
    assert_eq!(s.critical_failures, vec!["errors".to_string()]);
    assert!(s.reason.unwrap().contains("errors"));
}

#[test]
fn thresholds_and_shared_weights() {
    // latency weighted 60; "errors" and "saturation" share the other 40.
    let r = [
        result("p99", Classification::Pass, "latency"),
        result("p50", Classification::High, "latency"),
        result("5xx", Classification::Pass, "errors"),
        result("cpu", Classification::Pass, "saturation"),
        result("mem", Classification::Nodata, "saturation"),
    ];
    let s = kayenta::score(
        &[("latency", 60.0)],
        &r,
        Thresholds {
            pass: 95.0,
            marginal: 70.0,
        },
    )
    .unwrap();
    // 50 x 0.6 + 100 x 0.2 + 100 x 0.2 (Nodata not counted in its group).
    assert_eq!(s.score, 70.0);
    assert_eq!(s.classification, ScoreClassification::Marginal);
    assert_eq!(s.groups.len(), 3);
    assert_eq!(s.groups[2].weight, 20.0);
    assert_eq!(s.groups[2].nodata, 1);
    let s = kayenta::score(
        &[("latency", 60.0)],
        &r,
        Thresholds {
            pass: 70.0,
            marginal: 50.0,
        },
    )
    .unwrap();
    assert_eq!(s.classification, ScoreClassification::Pass);
    let s = kayenta::score(
        &[("latency", 60.0)],
        &r,
        Thresholds {
            pass: 90.0,
            marginal: 80.0,
        },
    )
    .unwrap();
    assert_eq!(s.classification, ScoreClassification::Fail);
    // A group with only Nodata counts as 100; half Nodata overall fails.
    let r = [
        result("a", Classification::Pass, "g1"),
        result("b", Classification::Nodata, "g2"),
        result("c", Classification::Pass, "g1"),
    ];
    let none: &[(&str, f64)] = &[];
    assert_eq!(summary(none, &r), 100.0);
    let r = [
        result("a", Classification::Pass, "g1"),
        result("b", Classification::Nodata, "g2"),
    ];
    assert_eq!(summary(none, &r), 0.0);
}

#[test]
fn direction_limits_what_fails() {
    let inc = MetricConfig {
        direction: Direction::Increase,
        ..MetricConfig::new("latency")
    };
    // A faster canary does not fail a latency metric.
    assert_eq!(
        classify(&inc, &CLS_C, &CLS_H).classification,
        Classification::Pass
    );
    let dec = MetricConfig {
        direction: Direction::Decrease,
        ..MetricConfig::new("throughput")
    };
    assert_eq!(
        classify(&dec, &CLS_C, &CLS_H).classification,
        Classification::Low
    );
}
