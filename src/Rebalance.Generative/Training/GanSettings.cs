using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Sampling;

namespace Rebalance.Generative.Training;

/// <summary>
/// Everything that decides how a GAN is trained. Defaults live here; an experiment file or
/// <c>--set key=value</c> overrides them through <see cref="Read"/>, which uses the keys listed in
/// the README (loss, arch, steps, batch_size, lr_g, lr_d, ...).
/// </summary>
public sealed record GanSettings
{
    /// <summary>Architecture name (<see cref="GanArchitectures"/>).</summary>
    public string Architecture { get; init; } = "dcgan";

    /// <summary>Adversarial loss name (<see cref="AdversarialLoss.Names"/>).</summary>
    public string Loss { get; init; } = "wgan-gp";

    /// <summary>Size of the latent code.</summary>
    public int LatentDim { get; init; } = 100;

    /// <summary>Generator updates.</summary>
    public int Steps { get; init; } = 2000;

    /// <summary>Images per batch (real images are drawn with replacement, so a class may be smaller).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Generator learning rate.</summary>
    public double LrG { get; init; } = 2e-4;

    /// <summary>Discriminator learning rate (lower than G's by default, as SMate trains).</summary>
    public double LrD { get; init; } = 1e-4;

    /// <summary>The optimiser of both networks: <c>adam</c> (with <see cref="Beta1"/>, <see cref="Beta2"/>) or
    /// <c>rmsprop</c> (PyTorch's defaults: α 0.99, ε 1e-8, no momentum), as SMate's optimiser factory offers.</summary>
    public string Optimizer { get; init; } = "adam";

    /// <summary>Adam β1.</summary>
    public double Beta1 { get; init; } = 0.5;

    /// <summary>Adam β2.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Discriminator updates per generator update.</summary>
    public int DSteps { get; init; } = 1;

    /// <summary>Weight of the loss's gradient penalty (WGAN-GP, DRAGAN).</summary>
    public double PenaltyWeight { get; init; } = 10;

    /// <summary>R1 penalty γ on real images (0: off).</summary>
    public double R1 { get; init; }

    /// <summary>Differentiable augmentations; null means "auto": color, translation and cutout when the
    /// training images number fewer than <see cref="AugmentBelow"/>, none otherwise.</summary>
    public IReadOnlyList<string>? DiffAugment { get; init; }

    /// <summary>The "auto" threshold of <see cref="DiffAugment"/>.</summary>
    public int AugmentBelow { get; init; } = 1000;

    /// <summary>EMA decay of the generator's weights (0: the live weights are used).</summary>
    public double EmaDecay { get; init; } = 0.999;

    /// <summary>How a conditional discriminator uses the class: <c>projection</c> (Miyato and Koyama 2018), or a
    /// contrastive head: <c>eco</c> (ECOGAN), <c>2c</c> (ContraGAN), <c>d2d-ce</c> (ReACGAN).</summary>
    public string CondLoss { get; init; } = "projection";

    /// <summary>Temperature τ of the contrastive losses (ECOGAN's code: 1.0).</summary>
    public double Tau { get; init; } = 1.0;

    /// <summary>Embedding size of the contrastive head (ECOGAN's code: 512).</summary>
    public int CondEmbed { get; init; } = 512;

    /// <summary>Weight of the contrastive loss beside the adversarial one, for D and for G.</summary>
    public double CondWeight { get; init; } = 1.0;

    /// <summary>D2D-CE's positive and negative margins m_p, m_n.</summary>
    public (double Positive, double Negative) Margins { get; init; } = (0.98, 0.02);

    /// <summary>Whether the discriminator has a contrastive head.</summary>
    public bool Contrastive => CondLoss != "projection";

    /// <summary>Weight λ of the LeCam regulariser on D (0: off; StudioGAN's CIFAR setting is 0.3).</summary>
    public double LeCam { get; init; }

    /// <summary>ProGAN's drift term ε·E[D(x)²] on real images, added to D's loss (0: off; the paper's 0.001,
    /// the default with <c>arch: progan</c>).</summary>
    public double Drift { get; init; }

    /// <summary>Images per ProGAN phase (a fade-in or a stable phase; used with <c>arch: progan</c>).</summary>
    public int ProganPhase { get; init; } = 10_000;

    /// <summary>The most channels of any ProGAN level (<c>arch: progan</c>): a level at resolution r has
    /// min(this, 4096 / r). 128 by default; a smaller value cuts a step's cost by about its square.</summary>
    public int ProganChannels { get; init; } = 128;

    /// <summary>The channel cap the pair's <see cref="Architectures.GanShape"/> carries (0: the architecture's own).</summary>
    public int MaxChannels => Architecture == "progan" ? ProganChannels : 0;

    /// <summary>Spectral norm in the discriminator.</summary>
    public bool SpectralNorm { get; init; }

    /// <summary>Weight of ACGAN's auxiliary classification loss (conditional only; 0: no auxiliary head).</summary>
    public double AuxWeight { get; init; }

    /// <summary>ACGAN (Odena et al. 2017): D's auxiliary classifier also learns the intended class of
    /// generated images, as in the paper (L_C over real and fake); false trains it on real images only.</summary>
    public bool AuxOnFake { get; init; } = true;

    /// <summary>Conditional training draws a class uniformly, then an image of it (instead of images uniformly).</summary>
    public bool ClassBalanced { get; init; } = true;

    /// <summary>Steps between training checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Steps between sample grids.</summary>
    public int SampleEvery { get; init; } = 500;

    /// <summary>Steps between evaluations of the sample statistics (for reduce-on-plateau).</summary>
    public int EvalEvery { get; init; } = 250;

    /// <summary>Evaluations without improvement before the learning rates are cut (0: no plateau schedule).</summary>
    public int PlateauPatience { get; init; } = 3;

    /// <summary>Factor of a plateau cut.</summary>
    public double PlateauFactor { get; init; } = 0.5;

    /// <summary>Consecutive steps in which the discriminator separates every real from every fake image
    /// before training counts as diverged (0: only NaN/Inf counts).</summary>
    public int DivergencePatience { get; init; } = 600;

    /// <summary>Restarts from the last good checkpoint before training gives up.</summary>
    public int MaxRestarts { get; init; } = 3;

    /// <summary>Learning-rate factor applied at each restart.</summary>
    public double RestartFactor { get; init; } = 0.5;

    /// <summary>Generator blocks (from the input) frozen when fine-tuning a transferred generator.</summary>
    public int FreezeG { get; init; }

    /// <summary>Discriminator blocks (from the input) frozen when fine-tuning a transferred discriminator.</summary>
    public int FreezeD { get; init; }

    /// <summary>The setting keys <see cref="Read"/> understands.</summary>
    public static IReadOnlyList<string> Keys { get; } =
    [
        "arch", "loss", "cond_loss", "tau", "cond_embed", "cond_weight", "margin_pos", "margin_neg", "z_dim", "steps", "batch_size", "lr_g", "lr_d", "optimizer", "beta1", "beta2", "d_steps", "penalty_weight", "r1",
        "diffaugment", "augment_below", "ema", "spectral_norm", "acgan", "acgan_fake", "sampler", "class_balanced", "lecam", "drift", "progan_phase", "progan_channels", "checkpoint_every", "sample_every",
        "eval_every", "plateau_patience", "plateau_factor", "divergence_patience", "max_restarts", "restart_factor", "freeze_g", "freeze_d",
    ];

    /// <summary>Reads the GAN keys of <paramref name="s"/> over <paramref name="d"/> (the method's defaults);
    /// <paramref name="prefix"/> selects a group, e.g. "pretrain_" for SMate's pre-training.</summary>
    public static GanSettings Read(MethodSettings s, GanSettings d, string prefix = "")
    {
        string K(string key) => prefix + key;
        var arch = s.Choice(K("arch"), d.Architecture, [.. GanArchitectures.Names]);
        var cond = s.Choice(K("cond_loss"), d.CondLoss, ["projection", .. ContrastiveLosses.Names]);
        if (prefix.Length == 0 && cond != "projection" && d.CondLoss == "projection")
        {
            // ECOGAN's recipe for its contrastive discriminators: the non-saturating loss with a gradient
            // penalty of weight 10, Adam 2e-4 with β (0.5, 0.9) for both networks, 5 D steps per G step.
            // These replace the method's defaults; keys written in the file still win.
            d = d with { Loss = "gan-gp", PenaltyWeight = 10, LrG = 2e-4, LrD = 2e-4, Beta1 = 0.5, Beta2 = 0.9, DSteps = 5 };
        }
        var progan = arch == "progan" && d.Architecture != "progan";
        if (progan)
        {
            // ProGAN's recipe (Karras et al. 2018, section 4 and appendix A.1): WGAN-GP with λ 10 and the drift
            // term ε 0.001, one critic step per generator step, Adam 1e-3 with β (0, 0.99) for both, and an
            // exponential moving average of G (decay 0.999) to sample from. Keys written in the file still win.
            d = d with { Loss = "wgan-gp", PenaltyWeight = 10, Drift = 0.001, DSteps = 1, LrG = 1e-3, LrD = 1e-3, Beta1 = 0, Beta2 = 0.99, EmaDecay = 0.999 };
        }
        var loss = s.Choice(K("loss"), d.Loss, [.. AdversarialLoss.Names]);
        if (prefix.Length == 0 && loss == "wgan-gp" && !progan)
        {
            // Gulrajani et al. 2017, Algorithm 1: n_critic = 5, Adam(α = 1e-4, β1 = 0, β2 = 0.9) for both
            // networks. These replace the method's defaults; keys written in the file still win. (A
            // prefixed group, SMate's pre-training, inherits them through d from the fine-tuning group.)
            d = d with { DSteps = 5, LrG = 1e-4, LrD = 1e-4, Beta1 = 0, Beta2 = 0.9 };
        }
        var aug = s.List(K("diffaugment"), d.DiffAugment ?? ["auto"]);
        IReadOnlyList<string>? diff = aug.Count == 1 && aug[0] == "auto" ? null : aug.Count == 1 && aug[0] is "none" or "off" ? [] : aug;
        if (diff is not null)
        {
            foreach (var a in diff)
            {
                if (!Adversarial.DiffAugment.Names.Contains(a))
                {
                    throw new SettingException(K("diffaugment"), $"setting '{K("diffaugment")}' of method '{s.Method}': unknown augmentation '{a}' (known: auto, none, {string.Join(", ", Adversarial.DiffAugment.Names)})");
                }
            }
        }
        return d with
        {
            Architecture = arch,
            Loss = loss,
            CondLoss = cond,
            Tau = s.Double(K("tau"), d.Tau, 1e-3, 100),
            CondEmbed = s.Int(K("cond_embed"), d.CondEmbed, 2, 4096),
            CondWeight = s.Double(K("cond_weight"), d.CondWeight, 0, 1000),
            Margins = (s.Double(K("margin_pos"), d.Margins.Positive, -1, 1), s.Double(K("margin_neg"), d.Margins.Negative, -1, 1)),
            LatentDim = s.Int(K("z_dim"), d.LatentDim, 1, 4096),
            Steps = s.Int(K("steps"), d.Steps, 1, 10_000_000),
            BatchSize = s.Int(K("batch_size"), d.BatchSize, 2, 4096),
            LrG = s.Double(K("lr_g"), d.LrG, 1e-9, 1),
            LrD = s.Double(K("lr_d"), d.LrD, 1e-9, 1),
            Optimizer = s.Choice(K("optimizer"), d.Optimizer, ["adam", "rmsprop"]),
            Beta1 = s.Double(K("beta1"), d.Beta1, 0, 0.9999),
            Beta2 = s.Double(K("beta2"), d.Beta2, 0, 0.99999),
            DSteps = s.Int(K("d_steps"), d.DSteps, 1, 100),
            PenaltyWeight = s.Double(K("penalty_weight"), d.PenaltyWeight, 0, 1e6),
            R1 = s.Double(K("r1"), d.R1, 0, 1e6),
            DiffAugment = diff,
            AugmentBelow = s.Int(K("augment_below"), d.AugmentBelow, 0),
            EmaDecay = s.Double(K("ema"), d.EmaDecay, 0, 0.99999),
            SpectralNorm = s.Bool(K("spectral_norm"), d.SpectralNorm),
            AuxWeight = s.Double(K("acgan"), d.AuxWeight, 0, 100),
            AuxOnFake = s.Bool(K("acgan_fake"), d.AuxOnFake),
            ClassBalanced = Sampler(s, K, d.ClassBalanced),
            LeCam = s.Double(K("lecam"), d.LeCam, 0, 1000),
            Drift = s.Double(K("drift"), d.Drift, 0, 1000),
            ProganPhase = s.Int(K("progan_phase"), d.ProganPhase, 1, 100_000_000),
            ProganChannels = ProganChannelsOf(s, K("progan_channels"), arch, d.ProganChannels),
            CheckpointEvery = s.Int(K("checkpoint_every"), d.CheckpointEvery, 1),
            SampleEvery = s.Int(K("sample_every"), d.SampleEvery, 1),
            EvalEvery = s.Int(K("eval_every"), d.EvalEvery, 1),
            PlateauPatience = s.Int(K("plateau_patience"), d.PlateauPatience, 0, 1000),
            PlateauFactor = s.Double(K("plateau_factor"), d.PlateauFactor, 0.01, 1),
            DivergencePatience = s.Int(K("divergence_patience"), d.DivergencePatience, 0),
            MaxRestarts = s.Int(K("max_restarts"), d.MaxRestarts, 0, 100),
            RestartFactor = s.Double(K("restart_factor"), d.RestartFactor, 0.01, 1),
            FreezeG = s.Int(K("freeze_g"), d.FreezeG, 0, 100),
            FreezeD = s.Int(K("freeze_d"), d.FreezeD, 0, 100),
        };
    }

    private static int ProganChannelsOf(MethodSettings s, string key, string arch, int fallback)
    {
        if (s.Values.ContainsKey(key) && arch != "progan")
        {
            throw new SettingException(key, $"setting '{key}' of method '{s.Method}': it sets ProGAN's channels and needs arch: progan (arch is {arch})");
        }
        return s.Int(key, fallback, 8, 512);
    }

    /// <summary>Real batches for a conditional GAN: <c>sampler: balanced</c> (class-balanced weights, ECOGAN's
    /// "sampling") or <c>natural</c> (the data's own proportions); <c>class_balanced: true|false</c> is the older
    /// spelling, still read. Both at once is an error.</summary>
    private static bool Sampler(MethodSettings s, Func<string, string> key, bool fallback)
    {
        var has = s.Values.ContainsKey(key("sampler"));
        var old = s.Values.ContainsKey(key("class_balanced"));
        if (has && old)
        {
            throw new SettingException(key("sampler"), $"setting '{key("sampler")}' of method '{s.Method}': give sampler or class_balanced, not both");
        }
        return has ? s.Choice(key("sampler"), fallback ? "balanced" : "natural", ["balanced", "natural"]) == "balanced" : s.Bool(key("class_balanced"), fallback);
    }

    /// <summary>The optimiser <see cref="Optimizer"/> names over <paramref name="parameters"/>.</summary>
    public Nn.Optimizer MakeOptimizer(IEnumerable<Rebalance.Tensors.Tensor> parameters, double learningRate) => Optimizer switch
    {
        "rmsprop" => new Nn.RmsProp(parameters, learningRate),
        _ => new Nn.Adam(parameters, learningRate, Beta1, Beta2),
    };

    /// <summary>The augmentations used for a training set of <paramref name="images"/> images.</summary>
    public IReadOnlyList<string> AugmentFor(int images) => DiffAugment ?? (images < AugmentBelow ? Adversarial.DiffAugment.Names : []);

    /// <summary>Bumped whenever a fix changes what the same settings train (the loss terms, the restart
    /// rule, spectral norm's vectors...), so generators stored by older code are not reused.</summary>
    public const int TrainingVersion = 3;

    /// <summary>A canonical text of every setting that changes the trained weights, for hashing. The
    /// checkpoint interval is in it because divergence restarts resume from checkpoints; the sample-grid
    /// interval is not.</summary>
    public string Canonical() => string.Join(";",
        "v" + TrainingVersion, Architecture, Loss, LatentDim, Steps, BatchSize, R(LrG), R(LrD), R(Beta1), R(Beta2), DSteps, R(PenaltyWeight), R(R1),
        DiffAugment is null ? "auto" : string.Join(",", DiffAugment), AugmentBelow, R(EmaDecay), SpectralNorm, R(AuxWeight), AuxOnFake, ClassBalanced,
        CheckpointEvery, EvalEvery, PlateauPatience, R(PlateauFactor), DivergencePatience, MaxRestarts, R(RestartFactor), FreezeG, FreezeD)
        + (Optimizer == "adam" ? "" : ";" + Optimizer) // Adam's generators keep the digests they had before the setting existed
        + (LeCam > 0 ? $";lecam {R(LeCam)}" : "")
        + (Drift > 0 ? $";drift {R(Drift)}" : "")
        + (Architecture == "progan" ? $";progan phase {ProganPhase}" : "")
        + (Architecture == "progan" && ProganChannels != 128 ? $";progan channels {ProganChannels}" : "")
        + (Contrastive ? $";cond {CondLoss} {R(Tau)} {CondEmbed} {R(CondWeight)} {R(Margins.Positive)} {R(Margins.Negative)}" : ""); // and projection ones too

    /// <summary>A short digest of <see cref="Canonical"/>.</summary>
    public string Hash() => Digest(Canonical());

    internal static string Digest(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];

    private static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
