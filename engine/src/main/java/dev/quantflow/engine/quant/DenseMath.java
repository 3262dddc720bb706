package dev.quantflow.engine.quant;

/** Small dense float64 linear algebra for GPTQ: Cholesky factorization and SPD inverse. Row-major (n, n). */
final class DenseMath {
    private DenseMath() {}

    /** Lower-triangular L with A = L L^T, or null when A is not positive definite. */
    static double[] cholesky(double[] a, int n) {
        double[] l = new double[n * n];
        for (int j = 0; j < n; j++) {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
            if (!(d > 0)) return null;
            double ljj = Math.sqrt(d);
            l[j * n + j] = ljj;
            for (int i = j + 1; i < n; i++) {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = s / ljj;
            }
        }
        return l;
    }

    /** A^-1 from A's Cholesky factor L: solve L Y = I, then L^T X = Y. */
    static double[] inverseFromCholesky(double[] l, int n) {
        double[] inv = new double[n * n];
        double[] y = new double[n];
        for (int col = 0; col < n; col++) {
            for (int i = 0; i < n; i++) {
                double s = i == col ? 1 : 0;
                for (int k = 0; k < i; k++) s -= l[i * n + k] * y[k];
                y[i] = s / l[i * n + i];
            }
            for (int i = n - 1; i >= 0; i--) {
                double s = y[i];
                for (int k = i + 1; k < n; k++) s -= l[k * n + i] * inv[k * n + col];
                inv[i * n + col] = s / l[i * n + i];
            }
        }
        return inv;
    }

    /** Upper-triangular U with A = U^T U (the transpose of the lower factor). */
    static double[] upperCholesky(double[] a, int n) {
        double[] l = cholesky(a, n);
        if (l == null) return null;
        double[] u = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j <= i; j++) u[j * n + i] = l[i * n + j];
        return u;
    }
}
