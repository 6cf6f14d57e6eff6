// Rebalance as a library: make MNIST imbalanced (99% of digit 5 removed), then over-sample with SMOTE.
using Rebalance.Data.Acquisition;
using Rebalance.Data.Protocols;
using Rebalance.Sampling;

var (train, _) = DatasetCatalog.Load("mnist", Console.WriteLine);       // fetched once into ~/.cache/rebalance
var imbalanced = ImbalanceProtocol.Parse("mnist5-99").Apply(train, seed: 0);
var result = new Smote(k: 5).FitResample(imbalanced, SamplingStrategy.Auto, seed: 0);
Console.WriteLine($"before: {Rebalancers.FormatCounts(imbalanced.ClassCounts())}");
Console.WriteLine($"after:  {Rebalancers.FormatCounts(result.Train.ClassCounts())} ({result.Train.SyntheticCount} synthetic)");
