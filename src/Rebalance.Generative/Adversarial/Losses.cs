using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Adversarial;

/// <summary>Which penalty a loss adds to the discriminator's objective.</summary>
public enum PenaltyKind
{
    /// <summary>No penalty.</summary>
    None,

    /// <summary>WGAN-GP (Gulrajani et al. 2017): (‖∇D(x̂)‖ − 1)² on random interpolates of real and fake.</summary>
    Interpolates,

    /// <summary>DRAGAN (Kodali et al. 2017): (‖∇D(x̂)‖ − 1)² on noisy perturbations of real images.</summary>
    RealPerturbed,
}

/// <summary>
/// An adversarial loss: a pure pair of functions of the discriminator's scores (logits, one per image), plus
/// the penalty it needs. <c>Discriminator(real, fake)</c> is minimised by D, <c>Generator(fake)</c> by G.
/// </summary>
public sealed record AdversarialLoss(string Name, Func<Tensor, Tensor, Tensor> Discriminator, Func<Tensor, Tensor> Generator, PenaltyKind Penalty)
{
    /// <summary>Known names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["gan", "gan-gp", "wgan-gp", "lsgan", "dragan", "hinge"];

    /// <summary>Whether the loss needs a discriminator without batch norm (its penalty is per sample).</summary>
    public bool NeedsPerSampleCritic => Penalty != PenaltyKind.None;

    /// <summary>The loss called <paramref name="name"/>; an unknown name throws with the known ones listed.</summary>
    public static AdversarialLoss Get(string name) => name switch
    {
        // Non-saturating GAN (Goodfellow et al. 2014): D: −log σ(r) − log(1 − σ(f)); G: −log σ(f).
        "gan" => new(name, (r, f) => F.Softplus(-r).Mean() + F.Softplus(f).Mean(), f => F.Softplus(-f).Mean(), PenaltyKind.None),
        // Wasserstein with gradient penalty: D: f − r; G: −f.
        "wgan-gp" => new(name, (r, f) => f.Mean() - r.Mean(), f => -f.Mean(), PenaltyKind.Interpolates),
        // Least squares (Mao et al. 2017) with targets 1 (real) and 0 (fake): D: ½(r − 1)² + ½f²; G: ½(f − 1)².
        "lsgan" => new(name, (r, f) => (((r - 1.0) * (r - 1.0)).Mean() * 0.5) + ((f * f).Mean() * 0.5), f => ((f - 1.0) * (f - 1.0)).Mean() * 0.5, PenaltyKind.None),
        // The non-saturating loss with WGAN-GP's penalty on interpolates (ECOGAN's recipe).
        "gan-gp" => new(name, (r, f) => F.Softplus(-r).Mean() + F.Softplus(f).Mean(), f => F.Softplus(-f).Mean(), PenaltyKind.Interpolates),
        // DRAGAN: the non-saturating loss plus a gradient penalty around the real data.
        "dragan" => new(name, (r, f) => F.Softplus(-r).Mean() + F.Softplus(f).Mean(), f => F.Softplus(-f).Mean(), PenaltyKind.RealPerturbed),
        // Hinge (Lim and Ye 2017; Miyato et al. 2018): D: max(0, 1 − r) + max(0, 1 + f); G: −f.
        "hinge" => new(name, (r, f) => F.Relu(1.0 - r).Mean() + F.Relu(f + 1.0).Mean(), f => -f.Mean(), PenaltyKind.None),
        _ => throw new ArgumentException($"unknown GAN loss '{name}' (known: {string.Join(", ", Names)})"),
    };
}

/// <summary>
/// ACGAN's class terms (Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs"):
/// L_C = E[log P(C = c | X_real)] + E[log P(C = c | X_fake)]. D maximises L_S + L_C, so it learns the class
/// of real and of generated images; G maximises L_C − L_S, so its images must look like their class.
/// As losses to minimise, both are cross-entropies of D's class logits.
/// </summary>
public static class AcganLoss
{
    /// <summary>D's class loss: cross-entropy on real images, plus on generated ones when
    /// <paramref name="fakeClassLogits"/> is given (the paper's form; null trains on real images only).</summary>
    public static Tensor Discriminator(Tensor realClassLogits, Tensor realLabels, Tensor? fakeClassLogits, Tensor? fakeLabels)
    {
        var loss = F.CrossEntropy(realClassLogits, realLabels);
        return fakeClassLogits is null ? loss : loss + F.CrossEntropy(fakeClassLogits, fakeLabels!);
    }

    /// <summary>G's class loss: cross-entropy of D's class logits on generated images against the classes they were drawn for.</summary>
    public static Tensor Generator(Tensor fakeClassLogits, Tensor fakeLabels) => F.CrossEntropy(fakeClassLogits, fakeLabels);
}

/// <summary>Gradient penalties; each differentiates the critic's gradient (create_graph), so the
/// penalty's own gradient reaches the critic's weights.</summary>
public static class Penalties
{
    /// <summary>EMA decay of the LeCam anchors (Tseng et al. 2021).</summary>
    public const double LeCamDecay = 0.99;

    /// <summary>
    /// The LeCam regulariser (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under Limited
    /// Data"): mean(relu(D(x) − α_F)²) + mean(relu(α_R − D(G(z)))²), with α_R and α_F exponential moving
    /// averages of D's mean score on real and on generated images (constants here; the trainer keeps them).
    /// </summary>
    public static Tensor LeCam(Tensor realLogits, Tensor fakeLogits, double anchorReal, double anchorFake)
    {
        var r = F.Relu(realLogits - anchorFake);
        var f = F.Relu(-(fakeLogits - anchorReal));
        return (r * r).Mean() + (f * f).Mean();
    }

    /// <summary>mean over images of (‖∇ₓ critic(x)‖₂ − 1)² at <paramref name="points"/>.</summary>
    public static Tensor GradientNorm(Func<Tensor, Tensor> critic, Tensor points)
    {
        var x = points.Detach().RequiresGrad_();
        var grad = Autograd.Grad([critic(x).Sum()], [x], createGraph: true)[0]!;
        var norm = Tensor.Sqrt((grad * grad).Reshape(grad.Size(0), -1).Sum(1) + 1e-12);
        return ((norm - 1.0) * (norm - 1.0)).Mean();
    }

    /// <summary>WGAN-GP's points: x̂ = ε·real + (1 − ε)·fake with ε ~ U[0, 1) per image.</summary>
    public static Tensor Interpolates(Tensor real, Tensor fake, Generator gen)
    {
        var eps = gen.Uniform([real.Size(0), 1, 1, 1]);
        return (eps * real.Detach()) + ((1.0 - eps) * fake.Detach());
    }

    /// <summary>DRAGAN's points: x_p = real + 0.5·std(real)·U[0, 1) per pixel, then x̂ = α·real + (1 − α)·x_p
    /// with α ~ U[0, 1) per image (as the authors' code does).</summary>
    public static Tensor PerturbedReal(Tensor real, Generator gen)
    {
        var r = real.Detach();
        var std = Math.Sqrt(r.Var().Item());
        var perturbed = r + (gen.Uniform(r.Shape) * (0.5 * std));
        var alpha = gen.Uniform([r.Size(0), 1, 1, 1]);
        return (alpha * r) + ((1.0 - alpha) * perturbed);
    }

    /// <summary>R1 (Mescheder et al. 2018): (γ/2)·mean over images of ‖∇ₓ critic(x)‖² at the real images.</summary>
    public static Tensor R1(Func<Tensor, Tensor> critic, Tensor real, double gamma)
    {
        var x = real.Detach().RequiresGrad_();
        var grad = Autograd.Grad([critic(x).Sum()], [x], createGraph: true)[0]!;
        return (grad * grad).Reshape(grad.Size(0), -1).Sum(1).Mean() * (gamma / 2);
    }
}
