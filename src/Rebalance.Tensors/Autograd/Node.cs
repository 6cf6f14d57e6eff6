namespace Rebalance.Tensors;

/// <summary>Backward rule of one op: given the gradient of the op's output, the gradients of its
/// inputs (null where an input needs none). Rules are written with tensor ops, so when the graph of
/// the backward pass is recorded they are themselves differentiable.</summary>
internal delegate Tensor?[] BackwardRule(Tensor gradOutput);

/// <summary>A recorded op in the autograd graph.</summary>
internal sealed class Node
{
    public Node(string name, Tensor[] inputs, BackwardRule rule)
    {
        Name = name;
        Inputs = inputs;
        Rule = rule;
    }

    public string Name { get; }

    public Tensor[] Inputs { get; }

    public BackwardRule Rule { get; }
}
