using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Adversarial;

/// <summary>
/// GAMO's objectives (Mullick, Datta and Das 2019), with M_k(x) the classifier's softmax probability of class k,
/// D(x|k) the conditional discriminator's probability that x is a real image of class k, P_k the class
/// priors, c the largest class and G(z|i) the convex generator's sample for class i:
/// <list type="bullet">
/// <item>J(G, M) = Σ_i P_i E_{x~p_i}[ℓ(x, i)] + Σ_{i≠c} (P_c − P_i) E_z[ℓ(G(z|i), i)], with the
/// one-against-rest term ℓ(x, i) = −log M_i(x) − Σ_{k≠i} log(1 − M_k(x)) (the paper's J_i1 ... J_i4 regrouped
/// by sample); M minimises J, G maximises it (its samples are to be hard for M).</item>
/// <item>Q(G, D) = Σ_i P_i E_{x~p_i}[log D(x|i)] + Σ_{i≠c} (P_c − P_i) E_z[log(1 − D(G(z|i)|i))]; D maximises Q,
/// G minimises it (the minimax form the paper writes, not the non-saturating one).</item>
/// </list>
/// Each class's generated share P_c − P_i is what brings it up to the largest class, so the game is played on
/// the balanced distribution. Expectations over real data are means over a uniformly drawn batch (Σ_i P_i
/// E_{p_i} is the mean over the data); those over generated samples are means over each class's samples.
/// </summary>
public static class GamoLosses
{
    /// <summary>ℓ(x, y) per row of <paramref name="logits"/> (N, K): −log M_y − Σ_{k≠y} log(1 − M_k), M the
    /// softmax. log(1 − M_k) is taken as the log-sum-exp of the other logits minus that of all, which stays
    /// finite however sure the classifier is.</summary>
    public static Tensor OneAgainstRest(Tensor logits, Tensor labels)
    {
        if (logits.Rank != 2 || labels.Rank != 1 || labels.Size(0) != logits.Size(0) || logits.Size(1) < 2)
        {
            throw new ArgumentException($"GAMO: expected logits (N, K ≥ 2) and N labels; got [{string.Join(", ", logits.Shape)}] and [{string.Join(", ", labels.Shape)}]");
        }
        var k = logits.Size(1);
        var all = logits.LogSumExp(1, keepDim: true);                       // (N, 1)
        var logM = logits - all;                                             // log M_k
        // (K, K): row k masks out logit k.
        var mask = new float[k * k];
        for (var i = 0; i < k; i++)
        {
            mask[(i * k) + i] = float.NegativeInfinity;
        }
        var excluded = Tensor.FromArray(mask, k, k).To(logits.DType);
        var others = (logits.Unsqueeze(1) + excluded).LogSumExp(2);        // (N, K): log Σ_{j≠k} exp(l_j)
        var log1mM = others - all;                                           // log(1 − M_k)
        var onehot = Tensor.OneHot(labels, k, logits.DType);
        return -((onehot * logM) + ((1.0 - onehot) * log1mM)).Sum(1);
    }

    /// <summary>J's estimate: mean ℓ over the real batch plus Σ_s w_s ℓ(generated_s), w_s = (P_c − P_i)/m for
    /// a sample of class i among m generated for it (<paramref name="genWeights"/>).</summary>
    public static Tensor ClassifierObjective(Tensor realLogits, Tensor realLabels, Tensor genLogits, Tensor genLabels, Tensor genWeights) =>
        OneAgainstRest(realLogits, realLabels).Mean() + GeneratedPart(genLogits, genLabels, genWeights);

    /// <summary>The generated samples' part of J (what G maximises).</summary>
    public static Tensor GeneratedPart(Tensor genLogits, Tensor genLabels, Tensor genWeights) =>
        (OneAgainstRest(genLogits, genLabels) * genWeights).Sum();

    /// <summary>Q's estimate from D's logits: mean log D over the real batch plus Σ_s w_s log(1 − D(generated_s)).</summary>
    public static Tensor DiscriminatorObjective(Tensor realScores, Tensor genScores, Tensor genWeights) =>
        -F.Softplus(-realScores).Mean() + FakePart(genScores, genWeights);

    /// <summary>The generated samples' part of Q (what G minimises): Σ_s w_s log(1 − σ(s)).</summary>
    public static Tensor FakePart(Tensor genScores, Tensor genWeights) => (-F.Softplus(genScores) * genWeights).Sum();
}
