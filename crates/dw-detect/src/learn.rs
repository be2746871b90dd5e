//! Logistic regression by Newton's method: the one learning routine of the
//! detector, used to fit the task-instruction classifier and the weights.

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Maximizes the weighted, L2-penalized (intercept excepted) log-likelihood
/// by Newton's method.
pub fn newton_logistic(design: &[Vec<f64>], targets: &[f64], weights: &[f64], l2: f64) -> Vec<f64> {
    let width = design.first().map_or(1, Vec::len);
    let mut beta = vec![0.0; width];
    for _ in 0..50 {
        let mut gradient = vec![0.0; width];
        let mut hessian = vec![vec![0.0; width]; width];
        for ((row, y), w) in design.iter().zip(targets).zip(weights) {
            let p = sigmoid(row.iter().zip(&beta).map(|(x, b)| x * b).sum());
            let residual = w * (p - y);
            let curvature = w * p * (1.0 - p);
            for (j, xj) in row.iter().enumerate() {
                gradient[j] += residual * xj;
                let scaled = curvature * xj;
                for (h, xk) in hessian[j][..=j].iter_mut().zip(row) {
                    *h += scaled * xk;
                }
            }
        }
        // Only the lower triangle is filled: the Cholesky solve reads no other.
        for j in 1..width {
            gradient[j] += l2 * beta[j];
            hessian[j][j] += l2;
        }
        hessian[0][0] += 1e-9;
        let step = solve_spd(hessian, gradient);
        let largest = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        for (b, s) in beta.iter_mut().zip(&step) {
            *b -= s;
        }
        if largest < 1e-8 {
            break;
        }
    }
    beta
}

/// Solves `a x = b` for a symmetric positive-definite `a` given by its lower
/// triangle (Cholesky).
fn solve_spd(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for j in 0..n {
        let diagonal = (a[j][j] - a[j][..j].iter().map(|v| v * v).sum::<f64>()).max(1e-300).sqrt();
        a[j][j] = diagonal;
        for i in j + 1..n {
            let dot: f64 = a[i][..j].iter().zip(&a[j][..j]).map(|(x, y)| x * y).sum();
            a[i][j] = (a[i][j] - dot) / diagonal;
        }
    }
    for i in 0..n {
        let dot: f64 = a[i][..i].iter().zip(&b[..i]).map(|(x, y)| x * y).sum();
        b[i] = (b[i] - dot) / a[i][i];
    }
    for i in (0..n).rev() {
        let dot: f64 = (i + 1..n).map(|k| a[k][i] * b[k]).sum();
        b[i] = (b[i] - dot) / a[i][i];
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_and_newton_finds_the_maximum() {
        let x = solve_spd(vec![vec![4.0, 0.0], vec![2.0, 3.0]], vec![2.0, 5.0]);
        assert!((x[0] + 0.5).abs() < 1e-12 && (x[1] - 2.0).abs() < 1e-12, "{x:?}");
        // y = 1 exactly when x > 0.5, noisy near it: the fitted boundary sits near 0.5.
        let design: Vec<Vec<f64>> = (0..200).map(|i| vec![1.0, i as f64 / 200.0]).collect();
        let targets: Vec<f64> = (0..200).map(|i| f64::from(u8::from(i >= 100 || i % 7 == 0))).collect();
        let beta = newton_logistic(&design, &targets, &vec![1.0; 200], 0.01);
        let boundary = -beta[0] / beta[1];
        assert!((boundary - 0.5).abs() < 0.1, "{beta:?}");
    }
}
