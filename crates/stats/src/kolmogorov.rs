//! The exact distribution of the one-sample two-sided Kolmogorov statistic
//! D_n, P(D_n >= x), as SciPy's `kstwo.sf` computes it (Simard & L'Ecuyer
//! 2011, "Computing the two-sided Kolmogorov-Smirnov distribution"): each
//! region of (n, x) uses the method that is accurate there — Ruben-Gambino
//! closed forms at the extremes, the Durbin matrix (Marsaglia-Tsang-Wang),
//! the Pomeranz recursion, the Pelz-Good asymptotic series, and twice the
//! exact one-sided Smirnov tail (Birnbaum-Tingey) for large x.
//!
//! Used by the asymptotic two-sample KS test with n = round(m*n/(m+n)),
//! exactly as `scipy.stats.ks_2samp(method="asymp")` does.

use statrs::function::factorial::ln_binomial;
use std::f64::consts::PI;

const E128: i32 = 128;
const EP128: f64 = 3.402_823_669_209_385e38; // 2^128
const EM128: f64 = 2.938_735_877_055_719e-39; // 2^-128

/// P(D_n >= x) for the two-sided one-sample Kolmogorov statistic.
pub(crate) fn kolmogorov_sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let prob = if n <= 140 {
            (1..=n).fold(1.0, |p, i| p * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0)))
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip(1.0 - prob);
    }
    if t >= nf - 1.0 {
        return clip(2.0 * (1.0 - x).powf(nf));
    }
    if x >= 0.5 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let nxsquared = t * x;
    if n <= 140 {
        if nxsquared <= 0.754693 {
            return clip(1.0 - durbin_cdf(n, x));
        }
        if nxsquared <= 4.0 {
            return clip(1.0 - pomeranz_cdf(n, x));
        }
        return clip(2.0 * smirnov_sf(n, x));
    }
    if nxsquared >= 370.0 {
        return 0.0;
    }
    if nxsquared >= 2.2 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let cdf = if nxsquared >= 18.0 {
        1.0
    } else if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_cdf(n, x)
    } else {
        pelz_good_cdf(n, x)
    };
    clip(1.0 - cdf)
}

fn clip(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// log(n! / n^n) by Stirling's series with n log n removed up front.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    // B_2j / (2j (2j - 1)) for j = 8..1, highest power first.
    const STIRLING: [f64; 8] = [
        -3617.0 / 122400.0,
        1.0 / 156.0,
        -691.0 / 360360.0,
        1.0 / 1188.0,
        -1.0 / 1680.0,
        1.0 / 1260.0,
        -1.0 / 360.0,
        1.0 / 12.0,
    ];
    let rn = 1.0 / n;
    let r2 = rn / n;
    let poly = STIRLING.iter().fold(0.0, |acc, &c| acc * r2 + c);
    n.ln() / 2.0 - n + (2.0 * PI).ln() / 2.0 + rn * poly
}

/// One-sided Smirnov tail P(D_n^+ >= x), by the Birnbaum-Tingey sum
/// x * sum_{j <= n(1-x)} C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1),
/// all terms positive, accumulated in log space.
pub(crate) fn smirnov_sf(n: u64, x: f64) -> f64 {
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let jmax = ((nf * (1.0 - x)).floor() as u64).min(n);
    let (mut max_log, mut sum) = (f64::NEG_INFINITY, 0.0f64);
    for j in 0..=jmax {
        let jf = j as f64;
        let a = (nf - nf * x - jf) / nf;
        if a <= 0.0 {
            continue;
        }
        let term =
            ln_binomial(n, j) + (nf - jf) * a.ln() + (jf - 1.0) * (x + jf / nf).ln() + x.ln();
        if term > max_log {
            sum = sum * (max_log - term).exp() + 1.0;
            max_log = term;
        } else {
            sum += (term - max_log).exp();
        }
    }
    if sum == 0.0 {
        return 0.0;
    }
    (max_log + sum.ln()).exp()
}

/// P(D_n < d) by the Durbin matrix, Marsaglia-Tsang-Wang's scaled powering.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v = vec![0.0; m];
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] = (1.0 - h.powi(j as i32)) * fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut hm = vec![0.0; m * m];
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let mut pwr = vec![0.0; m * m];
    for i in 0..m {
        pwr[i * m + i] = 1.0;
    }
    let (mut nn, mut expnt, mut hexpnt) = (n, 0i32, 0i32);
    while nn > 0 {
        if nn % 2 == 1 {
            pwr = matmul(&pwr, &hm, m);
            expnt += hexpnt;
        }
        hm = matmul(&hm, &hm, m);
        hexpnt *= 2;
        if hm[(k - 1) * m + k - 1].abs() > EP128 {
            hm.iter_mut().for_each(|e| *e /= EP128);
            hexpnt += E128;
        }
        nn /= 2;
    }
    let mut p = pwr[(k - 1) * m + k - 1];
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < EM128 {
            p *= EP128;
            expnt -= E128;
        }
    }
    clip(ldexp(p, expnt))
}

fn matmul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for l in 0..m {
            let ail = a[i * m + l];
            if ail == 0.0 {
                continue;
            }
            for j in 0..m {
                c[i * m + j] += ail * b[l * m + j];
            }
        }
    }
    c
}

fn ldexp(x: f64, e: i32) -> f64 {
    // Two steps so that intermediate powers of two stay representable.
    let half = e / 2;
    x * 2f64.powi(half) * 2f64.powi(e - half)
}

fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (d, r) = ((i + 1) / 2, (i + 1) % 2);
        if r == 0 {
            if d == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (d - 1 - ll - roundf - 1, d + ll - 1 + ceilf - 1)
            }
        } else {
            (d - 1 - ll - 1, d + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// P(D_n < x) by the Pomeranz (1974) recursion, as Simard-L'Ecuyer scale it.
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let ni = n as i64;
    let nf = n as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let (mut gp, mut tgp, mut o2gp) = (vec![1.0; npwrs], vec![1.0; npwrs], vec![1.0; npwrs]);
    for k in 1..npwrs {
        let kf = k as f64;
        gp[k] = gp[k - 1] * (g / nf) / kf;
        tgp[k] = tgp[k - 1] * (2.0 * g / nf) / kf;
        o2gp[k] = o2gp[k - 1] * ((1.0 - 2.0 * g) / nf) / kf;
    }
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt = 0i32;
    let (mut j1, _) = pomeranz_j1j2(0, ni, ll, ceilf, roundf);
    for i in 1..(2 * ni + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.iter_mut().for_each(|e| *e = 0.0);
        let (nj1, j2) = pomeranz_j1j2(i, ni, ll, ceilf, roundf);
        j1 = nj1;
        let pw = if i == 1 || i == 2 * ni + 1 {
            &gp
        } else if i % 2 == 1 {
            &tgp
        } else {
            &o2gp
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let start = k1 - v0s;
            let seg = |a: i64| -> f64 {
                let idx = start + a;
                if a < ln2 && idx >= 0 && (idx as usize) < v0.len() {
                    v0[idx as usize]
                } else {
                    0.0
                }
            };
            let conv_start = j1 - k1;
            let conv_len = j2 - j1 + 1;
            for out in 0..conv_len.max(0) {
                let tt = conv_start + out;
                let mut acc = 0.0;
                for b in 0..=tt.min(ln2 - 1) {
                    acc += seg(tt - b) * pw.get(b as usize).copied().unwrap_or(0.0);
                }
                if let Some(slot) = v1.get_mut(out as usize) {
                    *slot = acc;
                }
            }
            let mx = v1.iter().cloned().fold(0.0, f64::max);
            if mx > 0.0 && mx < EM128 {
                v1.iter_mut().for_each(|e| *e *= EP128);
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = v1.get((ni - v1s) as usize).copied().unwrap_or(0.0);
    for k in 1..=n {
        if ans.abs() > EP128 {
            ans *= EM128;
            expnt += E128;
        }
        ans *= k as f64;
    }
    ldexp(ans, expnt)
}

/// Pelz-Good (1976) asymptotic series for P(D_n <= x).
fn pelz_good_cdf(n: u64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let z = nf.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -PI * PI / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut kk = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for k in (1..=maxk).rev() {
        let m = (2 * k - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf(8.0 * k as f64);
        let coeffs = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (acc, c) in kk.iter_mut().zip(coeffs) {
            *acc = *acc * qpower + c;
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let div = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (acc, d) in kk.iter_mut().zip(div) {
        *acc = *acc * q * sqrt2pi / d;
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for k in (1..=maxk).rev() {
        let kf = k as f64;
        let ksq = kf * kf;
        let qp = q2.powf(ksq);
        k2extra += ksq * qp;
        let kspi = PI * kf;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
    }
    kk[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    kk[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    let mut total = 0.0;
    for (i, acc) in kk.iter().enumerate() {
        total += acc / nf.powf(i as f64 / 2.0);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sided_smirnov_small_n_by_hand() {
        // n = 1: P(D+ >= x) = 1 - x.
        assert!((smirnov_sf(1, 0.3) - 0.7).abs() < 1e-15);
        // n = 2, x = 0.5: sum_j: j=0: (0.5)^2 = 0.25 ; j=1: 2*(0)^1.. = 0 -> 0.25
        assert!((smirnov_sf(2, 0.5) - 0.25).abs() < 1e-15);
    }

    #[test]
    fn methods_agree_where_regions_meet() {
        // Around n*x^2 = 0.754693 (Durbin vs Pomeranz), n <= 140.
        let n = 100;
        let x = (0.754693f64 / n as f64).sqrt();
        let a = 1.0 - durbin_cdf(n, x);
        let b = 1.0 - pomeranz_cdf(n, x);
        assert!((a - b).abs() < 1e-10, "{a} {b}");
        // Durbin vs Pelz-Good for large n.
        let n = 3_000;
        let x = 0.012;
        let a = durbin_cdf(n, x);
        let b = pelz_good_cdf(n, x);
        assert!((a - b).abs() < 1e-7, "{a} {b}");
    }
}
