using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Adversarial;

/// <summary>
/// Conditional contrastive losses on a discriminator's image embeddings e_i (N, d), its learned class
/// proxies p_k (K, d) and the labels y_i, all on cosine similarities scaled by a temperature τ. Each is built
/// from differentiable ops only, so it can sit beside a gradient penalty (second order). Sums of exponentials
/// are taken as log-sum-exp shifted by each row's largest term, so small temperatures neither overflow nor
/// underflow.
/// </summary>
public static class ContrastiveLosses
{
    /// <summary>Known names (the <c>cond_loss</c> values of <c>cgan</c> beside <c>projection</c>).</summary>
    public static IReadOnlyList<string> Names { get; } = ["eco", "2c", "d2d-ce"];

    /// <summary>
    /// ECOGAN's exhaustive contrastive loss, as its paper writes it:
    /// L = −mean_i log[(Σ_{j: y_j=y_i} exp(cos(e_i, p_{y_j})/τ) + Σ_{j≠i, y_j=y_i} exp(cos(e_i, e_j)/τ)) /
    /// (Σ_j exp(cos(e_i, p_{y_j})/τ) + Σ_{j≠i} exp(cos(e_i, e_j)/τ))]. The proxy sums run over the batch's
    /// labels (a class present m times counts m times). The authors' code normalises the two sums
    /// separately; this follows the formula.
    /// </summary>
    public static Tensor Eco(Tensor embed, Tensor proxies, Tensor labels, double tau)
    {
        var (s, sp, same, notSelf, onehot) = Parts(embed, proxies, labels, tau);
        var counts = onehot.Sum(0, keepDim: true);                      // (1, K): how often each class is in the batch
        var n = same.Sum(1, keepDim: true) + 1.0;                        // #{j: y_j = y_i}, the anchor included
        var terms = Tensor.Concat([sp, s], 1);                           // proxy terms, then data terms
        var numerator = Tensor.Concat([onehot * n, same], 1);
        var denominator = Tensor.Concat([onehot * 0.0 + counts, notSelf], 1);
        return -(WeightedLogSumExp(terms, numerator) - WeightedLogSumExp(terms, denominator)).Mean();
    }

    /// <summary>
    /// ContraGAN's conditional contrastive loss 2C (Kang and Park 2020): only the anchor's own proxy, in
    /// numerator and denominator: L = −mean_i log[(exp(cos(e_i, p_{y_i})/τ) + Σ_{j≠i, y_j=y_i} exp(cos(e_i, e_j)/τ)) /
    /// (exp(cos(e_i, p_{y_i})/τ) + Σ_{j≠i} exp(cos(e_i, e_j)/τ))].
    /// </summary>
    public static Tensor TwoC(Tensor embed, Tensor proxies, Tensor labels, double tau)
    {
        var (s, sp, same, notSelf, onehot) = Parts(embed, proxies, labels, tau);
        var terms = Tensor.Concat([sp, s], 1);
        return -(WeightedLogSumExp(terms, Tensor.Concat([onehot, same], 1)) - WeightedLogSumExp(terms, Tensor.Concat([onehot, notSelf], 1))).Mean();
    }

    /// <summary>
    /// ReACGAN's data-to-data cross-entropy (Kang et al. 2021) with its margins: a_i = min(cos(e_i, p_{y_i}) −
    /// m_p, 0)/τ attracts each embedding to its proxy until the cosine reaches m_p, b_ij = max(cos(e_i, e_j) −
    /// m_n, 0)/τ repels it from the other classes' embeddings (same-class ones are not negatives: false
    /// negatives are removed) once their cosine exceeds m_n; L = −mean_i log[exp(a_i) / (exp(a_i) + Σ_{j: y_j≠y_i}
    /// exp(b_ij))]. The released code also subtracts the rows' largest similarity from the negatives alone, which
    /// changes the value; this follows the formula.
    /// </summary>
    public static Tensor D2dCe(Tensor embed, Tensor proxies, Tensor labels, double tau, double marginPositive = 0.98, double marginNegative = 0.02)
    {
        var (s, sp, same, notSelf, onehot) = Parts(embed, proxies, labels, tau);
        var ownCos = (sp * onehot).Sum(1, keepDim: true);               // cos(e_i, p_{y_i})/τ
        var a = -F.Relu(-(ownCos - (marginPositive / tau)));             // min(cos − m_p, 0)/τ, (N, 1)
        var b = F.Relu(s - (marginNegative / tau));                      // max(cos − m_n, 0)/τ, (N, N)
        var other = notSelf - same;                                      // y_j ≠ y_i
        var terms = Tensor.Concat([a, b], 1);
        var weights = Tensor.Concat([Tensor.Ones([s.Size(0), 1], s.DType), other], 1);
        return -(a.Reshape(-1) - WeightedLogSumExp(terms, weights)).Mean();
    }

    /// <summary>log Σ_j w_ij exp(x_ij) per row, for constant weights w ≥ 0 with at least one positive per row:
    /// the engine's log-sum-exp of x + log w (terms of weight 0 at −∞), which shifts each row by its largest
    /// term, so nothing overflows or underflows whatever the temperature.</summary>
    private static Tensor WeightedLogSumExp(Tensor x, Tensor w)
    {
        Tensor logW;
        using (GradMode.NoGrad())
        {
            logW = Tensor.Where(Tensor.Gt(w, 0.0), Tensor.Log(w), Tensor.ZerosLike(w) + double.NegativeInfinity);
        }
        return (x + logW).LogSumExp(1);
    }

    /// <summary>Cosines over τ between embeddings (N, N) and with the proxies (N, K), and the label masks:
    /// same class without the anchor (N, N), every other item (N, N), one-hot labels (N, K).</summary>
    private static (Tensor S, Tensor Sp, Tensor Same, Tensor NotSelf, Tensor OneHot) Parts(Tensor embed, Tensor proxies, Tensor labels, double tau)
    {
        if (embed.Rank != 2 || proxies.Rank != 2 || embed.Size(1) != proxies.Size(1) || labels.Rank != 1 || labels.Size(0) != embed.Size(0))
        {
            throw new ArgumentException($"contrastive loss: expected embeddings (N, d), proxies (K, d) and N labels; got [{string.Join(", ", embed.Shape)}], [{string.Join(", ", proxies.Shape)}], [{string.Join(", ", labels.Shape)}]");
        }
        if (embed.Size(0) < 2)
        {
            throw new ArgumentException("contrastive loss: a batch needs at least 2 images");
        }
        if (!(tau > 0))
        {
            throw new ArgumentException($"contrastive loss: the temperature must be positive, got {tau}");
        }
        var n = embed.Size(0);
        var e = Unit(embed);
        var p = Unit(proxies);
        var s = Tensor.MatMul(e, e.T()) * (1.0 / tau);
        var sp = Tensor.MatMul(e, p.T()) * (1.0 / tau);
        var onehot = Tensor.OneHot(labels, proxies.Size(0), embed.DType);
        var notSelf = Tensor.Ones([n, n], embed.DType) - Tensor.Eye(n, dtype: embed.DType);
        var same = Tensor.MatMul(onehot, onehot.T()) * notSelf;
        return (s, sp, same, notSelf, onehot);
    }

    /// <summary>Rows scaled to unit length (a tiny floor keeps a zero row finite).</summary>
    private static Tensor Unit(Tensor x) => x / Tensor.Sqrt((x * x).Sum(1, keepDim: true) + 1e-12);
}
