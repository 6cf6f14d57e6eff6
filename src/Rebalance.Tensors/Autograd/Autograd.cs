namespace Rebalance.Tensors;

/// <summary>Reverse-mode differentiation over the recorded graph.</summary>
public static class Autograd
{
    /// <summary>
    /// Gradients of <paramref name="outputs"/> with respect to <paramref name="inputs"/>, returned rather
    /// than accumulated into <see cref="Tensor.Grad"/>. With <paramref name="createGraph"/> the backward
    /// pass is itself recorded, so the result can be differentiated again (gradient penalties).
    /// </summary>
    /// <param name="outputs">Tensors to differentiate; each scalar unless a gradient is given for it.</param>
    /// <param name="inputs">Tensors to differentiate with respect to.</param>
    /// <param name="gradOutputs">Gradients of the outputs (null entries mean ones for scalars).</param>
    /// <param name="createGraph">Record the backward pass.</param>
    /// <param name="allowUnused">Return null for an input the outputs do not depend on instead of throwing.</param>
    public static Tensor?[] Grad(Tensor[] outputs, Tensor[] inputs, Tensor?[]? gradOutputs = null, bool createGraph = false, bool allowUnused = false)
    {
        foreach (var x in inputs)
        {
            if (!x.RequiresGrad)
            {
                throw new ArgumentException($"Grad: an input of shape {ShapeUtil.Format(x.ShapeRef)} does not require gradients");
            }
        }
        var grads = Run(outputs, gradOutputs, createGraph, inputs);
        var result = new Tensor?[inputs.Length];
        for (var i = 0; i < inputs.Length; i++)
        {
            if (!grads.TryGetValue(inputs[i], out var g) && !allowUnused)
            {
                throw new InvalidOperationException($"Grad: input {i} of shape {ShapeUtil.Format(inputs[i].ShapeRef)} was not used to compute the outputs (pass allowUnused: true to get null)");
            }
            result[i] = g;
        }
        return result;
    }

    internal static void Backward(Tensor root, Tensor? gradient, bool createGraph)
    {
        if (!root.RequiresGrad)
        {
            throw new InvalidOperationException($"Backward: the tensor of shape {ShapeUtil.Format(root.ShapeRef)} does not require gradients and has no graph");
        }
        var grads = Run([root], [gradient], createGraph, null);
        foreach (var (t, g) in grads)
        {
            if (t.IsLeaf && t.RequiresGrad)
            {
                if (createGraph)
                {
                    using (GradMode.EnableGrad())
                    {
                        t.Grad = t.Grad is null ? g : t.Grad + g;
                    }
                }
                else if (t.Grad is null || t.Grad.GradFn is not null || t.Grad.IsReleased || t.Grad.RequiresGrad)
                {
                    // A leaf's gradient outlives any TensorScope the backward pass ran in.
                    using (TensorScope.Suppress())
                    {
                        var fresh = Tensor.Empty(g.Shape, g.DType);
                        fresh.CopyFrom_(g.Detach());
                        t.Grad = fresh;
                    }
                }
                else
                {
                    t.Grad.Add_(g.Detach());
                }
            }
        }
    }

    private static Dictionary<Tensor, Tensor> Run(Tensor[] outputs, Tensor?[]? gradOutputs, bool createGraph, Tensor[]? stopAt)
    {
        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < outputs.Length; i++)
        {
            var o = outputs[i];
            var g = gradOutputs is not null && i < gradOutputs.Length ? gradOutputs[i] : null;
            if (g is null)
            {
                if (o.Numel != 1)
                {
                    throw new InvalidOperationException($"Backward: output {i} has shape {ShapeUtil.Format(o.ShapeRef)}; a gradient is implicit only for one-element outputs, so pass one of that shape");
                }
                g = Tensor.OnesLike(o);
            }
            else if (!ShapeUtil.SameShape(g.ShapeRef, o.ShapeRef))
            {
                throw new ArgumentException($"Backward: gradient of shape {ShapeUtil.Format(g.ShapeRef)} does not match output {i} of shape {ShapeUtil.Format(o.ShapeRef)}");
            }
            Accumulate(grads, o, g);
        }

        var order = TopologicalOrder(outputs);
        using var mode = createGraph ? GradMode.EnableGrad() : GradMode.NoGrad();
        var profiled = OpProfile.BackwardBegin();
        var ruleStart = profiled;
        for (var i = order.Count - 1; i >= 0; i--)
        {
            var t = order[i];
            var node = t.GradFn!;
            if (!grads.TryGetValue(t, out var g))
            {
                continue;
            }
            var inputGrads = node.Rule(g);
            for (var k = 0; k < node.Inputs.Length; k++)
            {
                var x = node.Inputs[k];
                var gx = inputGrads[k];
                if (gx is null || !x.RequiresGrad)
                {
                    continue;
                }
                if (!ShapeUtil.SameShape(gx.ShapeRef, x.ShapeRef))
                {
                    throw new InvalidOperationException($"internal error: backward of {node.Name} gave a gradient of shape {ShapeUtil.Format(gx.ShapeRef)} for input {k} of shape {ShapeUtil.Format(x.ShapeRef)}");
                }
                Accumulate(grads, x, gx);
            }
            if (stopAt is null || Array.IndexOf(stopAt, t) < 0)
            {
                // Intermediate gradients are not needed once passed on; free them early.
                grads.Remove(t);
            }
            ruleStart = OpProfile.OnBackwardRule(node.Name, t, ruleStart);
        }
        OpProfile.BackwardEnd(profiled);
        return grads;
    }

    private static void Accumulate(Dictionary<Tensor, Tensor> grads, Tensor t, Tensor g)
    {
        grads[t] = grads.TryGetValue(t, out var prev) ? prev + g : g;
    }

    /// <summary>Non-leaf tensors reachable from the outputs, each after all of its inputs.</summary>
    private static List<Tensor> TopologicalOrder(Tensor[] outputs)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor T, int Next)>();
        foreach (var o in outputs)
        {
            if (o.GradFn is null || !visited.Add(o))
            {
                continue;
            }
            stack.Push((o, 0));
            while (stack.Count > 0)
            {
                var (t, next) = stack.Pop();
                var inputs = t.GradFn!.Inputs;
                if (next < inputs.Length)
                {
                    stack.Push((t, next + 1));
                    var x = inputs[next];
                    if (x.GradFn is not null && visited.Add(x))
                    {
                        stack.Push((x, 0));
                    }
                }
                else
                {
                    order.Add(t);
                }
            }
        }
        return order;
    }
}
