
namespace Rebalance.Evaluation.Tests;

/// <summary>Experiment files: defaults, overrides, and one clear line for each kind of mistake.</summary>
public class ExperimentTests
{
    private const string Good = """
        dataset: mnist
        protocol: mnist5-99
        seeds: [3, 4]
        classifier:
          name: cnn28
          epochs: 2
          augment: [affine, multiply]
        methods:
          - none
          - name: smote
            k: 3
          - name: smote
            label: smote-k7
            k: 7
            strategy: ratio:0.5
        """;

    [Fact]
    public void TsneMapsStayWithTheFilesFirstSeedWhenAShareRuns()
    {
        var e = new Experiment { Seeds = [0, 1, 2] };
        Assert.Equal(e.Quality.TsnePerClass, Runner.MapsFor(e, 0));
        Assert.Equal(0, Runner.MapsFor(e, 1));
        // rebalance run --seeds 1,2: seed 1 is the share's first but not the file's.
        var share = e with { Seeds = [1, 2], ShareOf = e.Seeds };
        Assert.Equal(0, Runner.MapsFor(share, 1));
        Assert.Equal(e.Quality.TsnePerClass, Runner.MapsFor(e with { Seeds = [0], ShareOf = e.Seeds }, 0));
    }

    [Fact]
    public void ShardsSplitThePairsDisjointlyAndKeepPairsThatShareAModelTogether()
    {
        var e = Experiment.Parse("""
            dataset: fashion-mnist
            protocol: ir100
            seeds: [0, 1, 2]
            methods:
              - none
              - {name: smote, k: 5}
              - {name: scdl-gan, label: fill-a, strategy: "counts:4500,4500,4500,4500,4500,4500,4500,4500,4500,4500", steps: 10}
              - {name: scdl-gan, label: fill-b, strategy: "counts:6000,6000,6000,6000,6000,6000,6000,6000,6000,6000", steps: 10}
              - {name: scdl-gan, label: other, steps: 20}
            """, "fill.yaml");
        var all = Shards.Pairs(e, null).Select(p => (p.Method.Label, p.Seed)).ToList();
        Assert.Equal(15, all.Count);
        Assert.Equal(("none", 0UL), all[0]);
        Assert.Equal(("other", 2UL), all[^1]);
        foreach (var n in new[] { 1, 2, 3, 5, 20 })
        {
            var shares = Enumerable.Range(0, n).Select(i => Shards.Pairs(e, new Shard(i, n)).Select(p => (p.Method.Label, p.Seed)).ToList()).ToList();
            // Every pair in exactly one shard, each shard in run order.
            Assert.Equal(all.Order(), shares.SelectMany(x => x).Order());
            foreach (var share in shares)
            {
                Assert.Equal(all.Where(share.Contains), share);
            }
            // The two fills of a seed share one generator (same method and settings): same shard.
            foreach (var seed in e.Seeds)
            {
                Assert.Equal(shares.FindIndex(x => x.Contains(("fill-a", seed))), shares.FindIndex(x => x.Contains(("fill-b", seed))));
            }
            // Groups are dealt in turn: no shard has more than one group above another.
            if (n <= 12)
            {
                var groups = shares.Select(x => x.Select(p => (p.Label.StartsWith("fill", StringComparison.Ordinal) ? "fill" : p.Label, p.Seed)).Distinct().Count()).ToList();
                Assert.True(groups.Max() - groups.Min() <= 1, string.Join(",", groups));
            }
        }
        Assert.Equal(new Shard(2, 4), Shard.Parse("2/4"));
        foreach (var bad in new[] { "4/4", "-1/4", "1/0", "1", "a/b", "1/2/3", " 1/2" })
        {
            Assert.StartsWith($"--shard: '{bad}' is not I/N", Assert.Throws<ArgumentException>(() => Shard.Parse(bad)).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void JudgingIsOnForGenerativeMethodsAndSetPerMethod()
    {
        var e = Experiment.Parse("""
            dataset: mnist
            quality: {per_class: 500, tsne_per_class: 0, cas_per_class: 2000, judge_epochs: 3, judge_max_images: 6000, judge_seed: 4}
            methods:
              - none
              - smote
              - {name: smote, label: smote-judged, quality: true}
              - {name: gan-per-class, label: gan}
              - {name: gan-per-class, label: gan-quiet, quality: false}
              - {name: cgan, label: cgan-cas, cas: true}
            """, "q.yaml");
        Assert.Equal([false, false, true, true, false, true], e.Methods.Select(m => m.Judged));
        Assert.Equal([false, false, false, false, false, true], e.Methods.Select(m => m.Cas));
        // The flags are not settings of the method (they do not enter its model folder's key).
        Assert.Equal("", e.Methods[2].SettingsText);
        var q = e.Quality;
        Assert.Equal((500, 0, 2000, 3, 6000, 4UL), (q.PerClass, q.TsnePerClass, q.CasPerClass, q.JudgeEpochs, q.JudgeMaxImages, q.JudgeSeed));
        Assert.Equal(new QualitySettings().Canonical, Experiment.Parse(Good, "exp.yaml").Quality.Canonical);
        Assert.Equal((1000, 100, 15), (new QualitySettings().PerClass, new QualitySettings().TsnePerClass, new QualitySettings().JudgeEpochs));
    }

    [Fact]
    public void AnEntryMayTrainItsClassifierOnGeneratedImagesAloneOrFirst()
    {
        var e = Experiment.Parse("""
            dataset: mnist
            classifier: {epochs: 4}
            methods:
              - smote
              - {name: smote, label: syn, train_on: synthetic}
              - {name: smote, label: pre, schedule: synthetic-then-real, synthetic_epochs: 2}
            """, "t.yaml");
        var plain = e.Methods[0].TrainingFor(e.Training);
        var syn = e.Methods[1].TrainingFor(e.Training);
        var pre = e.Methods[2].TrainingFor(e.Training);
        Assert.Equal((TrainOn.Real, TrainSchedule.Together), (plain.TrainOn, plain.Schedule));
        Assert.Equal((TrainOn.Synthetic, TrainSchedule.Together, 4), (syn.TrainOn, syn.Schedule, syn.Epochs));
        Assert.Equal((TrainOn.Real, TrainSchedule.SyntheticThenReal, 2), (pre.TrainOn, pre.Schedule, pre.SyntheticEpochs));
        // They are not settings of the method, but they show in its settings and decide its run.
        Assert.Empty(e.Methods[1].Settings.Values);
        Assert.Equal("train_on=synthetic", e.Methods[1].SettingsText);
        Assert.Equal("schedule=synthetic-then-real, synthetic_epochs=2", e.Methods[2].SettingsText);
        Assert.NotEqual(Runner.ConfigHash(e, e.Methods[1] with { Label = "smote" }, 0), Runner.ConfigHash(e, e.Methods[0], 0));
        var x = Assert.Throws<ExperimentException>(() => Experiment.Parse("dataset: mnist\nmethods:\n  - {name: smote, train_on: synthetic, schedule: synthetic-then-real}\n", "t.yaml"));
        Assert.Contains("methods[0].schedule: synthetic-then-real ends on the real images", x.Message, StringComparison.Ordinal);
        x = Assert.Throws<ExperimentException>(() => Experiment.Parse("dataset: mnist\nmethods:\n  - {name: smote, train_on: fake}\n", "t.yaml"));
        Assert.Contains("methods[0].train_on: expected one of real, synthetic", x.Message, StringComparison.Ordinal);
        // Checked against the classifier's schedule too, not only the entry's own keys.
        x = Assert.Throws<ExperimentException>(() => Experiment.Parse("dataset: mnist\nclassifier: {schedule: synthetic-then-real}\nmethods:\n  - {name: smote, train_on: synthetic}\n", "t.yaml"));
        Assert.Contains("methods[0]: train_on: synthetic with schedule: synthetic-then-real (one of them from the classifier)", x.Message, StringComparison.Ordinal);
        x = Assert.Throws<ExperimentException>(() => Experiment.Parse("dataset: mnist\nmethods:\n  - {name: smote, synthetic_epochs: 3}\n", "t.yaml"));
        Assert.Contains("methods[0].synthetic_epochs: only used with schedule: synthetic-then-real", x.Message, StringComparison.Ordinal);
        var viaClassifier = Experiment.Parse("dataset: mnist\nclassifier: {schedule: synthetic-then-real}\nmethods:\n  - {name: smote, synthetic_epochs: 3}\n", "t.yaml");
        Assert.Equal((TrainSchedule.SyntheticThenReal, 3), (viaClassifier.Methods[0].TrainingFor(viaClassifier.Training).Schedule, viaClassifier.Methods[0].TrainingFor(viaClassifier.Training).SyntheticEpochs));
    }

    [Theory]
    [InlineData("  - {name: smote, quality: maybe}", "methods[0].quality: expected true or false, got 'maybe'")]
    [InlineData("  - {name: cgan, quality: false, cas: true}", "q.yaml:3:5: methods[0].cas: train-on-synthetic is part of judging the images, which 'quality: false' turns off")]
    [InlineData("  - none\nquality: {per_class: 1}", "quality.per_class: ")]
    [InlineData("  - none\nquality: {judges: 3}", "quality")]
    [InlineData("  - none\nquality: 5", "quality: expected a mapping")]
    public void BadJudgingSettingsAreOneLine(string methods, string expected)
    {
        var x = Assert.Throws<ExperimentException>(() => Experiment.Parse("dataset: mnist\nmethods:\n" + methods.Replace("\\n", "\n", StringComparison.Ordinal) + "\n", "q.yaml"));
        Assert.Contains(expected, x.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", x.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultsAndOverrides()
    {
        var e = Experiment.Parse(Good, "exp.yaml");
        Assert.Equal("exp", e.Name);
        Assert.Equal(Path.Combine("runs", "exp"), e.Output);
        Assert.Equal([3UL, 4UL], e.Seeds);
        Assert.Equal("cnn28", e.Classifier);
        Assert.Equal(2, e.Training.Epochs);
        Assert.Equal(64, e.Training.BatchSize);
        Assert.Equal(["affine", "multiply"], e.Training.Augment);
        Assert.Equal(["none", "smote", "smote-k7"], e.Methods.Select(m => m.Label));
        Assert.Equal("k=3", e.Methods[1].SettingsText);
        Assert.Equal("ratio:0.5", e.Methods[2].Strategy.Spec);
        Assert.Equal("auto", e.Methods[1].Strategy.Spec);
        Assert.Equal(0.1, e.Validation);
    }

    [Theory]
    [InlineData("epochs: 2", "epoch: 2", "exp.yaml:6:3: classifier.epoch: unknown key")]
    [InlineData("seeds: [3, 4]", "seed: [3, 4]", "exp.yaml:3:1: seed: unknown key")]
    [InlineData("epochs: 2", "epochs: two", "exp.yaml:6:11: classifier.epochs: expected an integer, got 'two'")]
    [InlineData("epochs: 2", "epochs: 2.5", "classifier.epochs: expected an integer")]
    [InlineData("seeds: [3, 4]", "seeds: 3", "exp.yaml:3:8: seeds: expected a list")]
    [InlineData("seeds: [3, 4]", "seeds: [3, -4]", "seeds[1]: expected a non-negative integer, got '-4'")]
    [InlineData("  - none", "  - nothing", "exp.yaml:9:5: methods[0].name: unknown method 'nothing' (known: none, random-over")]
    [InlineData("    k: 3", "    neighbours: 3", "exp.yaml:11:5: methods[1].neighbours: unknown setting 'neighbours' for method 'smote' (known: k)")]
    [InlineData("    k: 3", "    k: three", "methods[1].k: setting 'k' of method 'smote': expected an integer from 1 to 100, got 'three'")]
    [InlineData("protocol: mnist5-99", "protocol: ir1000", "exp.yaml:2:11: protocol: unknown protocol 'ir1000'")]
    [InlineData("  name: cnn28", "  name: vgg", "classifier.name: unknown classifier 'vgg'")]
    [InlineData("    label: smote-k7", "    label: smote", "methods[2]: the label 'smote' is used twice")]
    [InlineData("    strategy: ratio:0.5", "    strategy: half", "methods[2].strategy: unknown sampling strategy 'half'")]
    [InlineData("  augment: [affine, multiply]", "  augment: [twirl]", "classifier.augment: unknown augmentation 'twirl'")]
    [InlineData("  - name: smote\n    k: 3", "  - name: gan-per-class\n    loss: wgan", "exp.yaml:11:5: methods[1].loss: setting 'loss' of method 'gan-per-class': expected one of gan, gan-gp, wgan-gp, lsgan, dragan, hinge, got 'wgan'")]
    [InlineData("  - name: smote\n    k: 3", "  - name: cgan\n    arch: resnet", "methods[1].arch: setting 'arch' of method 'cgan': expected one of atienza, brownlee, dcgan, dcgan-deep, progan, resnet-sn, got 'resnet'")]
    [InlineData("  - name: smote\n    k: 3", "  - name: smate\n    pretrain_lr_d: fast", "methods[1].pretrain_lr_d: setting 'pretrain_lr_d' of method 'smate': expected a number")]
    [InlineData("    strategy: ratio:0.5", "    strategy: fill:5=2", "methods[2].strategy: sampling strategy 'fill:5=2': '5=2' is not CLASS=FRACTION")]
    [InlineData("epochs: 2", "epochs: 2\n  train_on: fake", "classifier.train_on: expected one of real, synthetic")]
    [InlineData("epochs: 2", "epochs: 2\n  train_on: synthetic\n  schedule: synthetic-then-real", "classifier.schedule: synthetic-then-real ends on the real images, so it does not go with train_on: synthetic")]
    [InlineData("epochs: 2", "epochs: 2\n  synthetic_epochs: 3", "classifier.synthetic_epochs: only used with schedule: synthetic-then-real")]
    public void MistakesNameTheFileLineAndField(string from, string to, string expected)
    {
        Assert.Contains(from, Good, StringComparison.Ordinal);
        var e = Assert.Throws<ExperimentException>(() => Experiment.Parse(Good.Replace(from, to, StringComparison.Ordinal), "exp.yaml"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void MissingMethodsAndBrokenYaml()
    {
        Assert.Contains("methods: missing", Assert.Throws<ExperimentException>(() => Experiment.Parse("dataset: mnist\n", "x.yaml")).Message, StringComparison.Ordinal);
        Assert.Contains("x.yaml:2:1: not valid YAML", Assert.Throws<ExperimentException>(() => Experiment.Parse("dataset: [mnist\n", "x.yaml")).Message, StringComparison.Ordinal);
        Assert.Contains("no such experiment file", Assert.Throws<ExperimentException>(() => Experiment.Load("/nonexistent/x.yaml")).Message, StringComparison.Ordinal);
    }
}
