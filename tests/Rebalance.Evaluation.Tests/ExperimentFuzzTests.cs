using System.Diagnostics;
using System.Text;
using Rebalance.Tensors;

namespace Rebalance.Evaluation.Tests;

/// <summary>
/// Feeds seeded mutations of the example experiment files to the parser: truncations, byte flips, inserted
/// YAML syntax (brackets, quotes, tabs, anchors, aliases, document markers, tags), deep nesting, very long
/// scalars and bytes that are not UTF-8. Each must parse or throw <see cref="ExperimentException"/>
/// (which the command line prints as one line with exit code 1), within a second.
/// </summary>
public class ExperimentFuzzTests
{
    private static readonly string[] Tokens =
    [
        "[", "]", "{", "}", "\"", "'", "\t", "&a ", "*a", "&b [*b]", ": ", "- ", "---\n", "...\n", "%YAML 1.1\n", "!!str ", "!x ",
        "? ", "|", ">", "#", ",", "\n", "\n  ", "\\", "\\x01", "\"\\u0000\"", "<<: *a\n", "null", "~", "1e999", "-0", "0x10",
    ];

    private static byte[] Mutate(byte[] seed, Generator gen)
    {
        var data = seed;
        for (var round = 1 + gen.NextInt(3); round > 0; round--)
        {
            var at = data.Length == 0 ? 0 : gen.NextInt(data.Length + 1);
            data = gen.NextInt(9) switch
            {
                0 => data[..at],
                1 => Flip(data, gen),
                2 => [.. data[..at], .. Encoding.UTF8.GetBytes(Tokens[gen.NextInt(Tokens.Length)]), .. data[at..]],
                3 => [.. data[..at], .. Encoding.UTF8.GetBytes(Repeat(gen.NextInt(2) == 0 ? "[" : gen.NextInt(2) == 0 ? "{a: " : "- ", 1 + gen.NextInt(5000))), .. data[at..]],
                4 => [.. data[..at], .. Encoding.UTF8.GetBytes(new string('x', 1 + gen.NextInt(200_000))), .. data[at..]],
                5 => [.. data[..at], .. NotUtf8(gen), .. data[at..]],
                6 => [.. data[..at], (byte)gen.NextInt(32), .. data[at..]],
                7 => Splice(data, gen),
                _ => [.. data[..at], .. Encoding.UTF8.GetBytes(Tokens[gen.NextInt(Tokens.Length)] + Tokens[gen.NextInt(Tokens.Length)]), .. data[at..]],
            };
        }
        return data;
    }

    private static byte[] Flip(byte[] data, Generator gen)
    {
        if (data.Length == 0)
        {
            return data;
        }
        var copy = (byte[])data.Clone();
        for (var k = 1 + gen.NextInt(4); k > 0; k--)
        {
            copy[gen.NextInt(copy.Length)] ^= (byte)(1 << gen.NextInt(8));
        }
        return copy;
    }

    // A stretch of the file repeated elsewhere (duplicated keys, list items, whole blocks).
    private static byte[] Splice(byte[] data, Generator gen)
    {
        if (data.Length < 2)
        {
            return data;
        }
        var from = gen.NextInt(data.Length - 1);
        var len = 1 + gen.NextInt(Math.Min(400, data.Length - from));
        var at = gen.NextInt(data.Length + 1);
        return [.. data[..at], .. data.AsSpan(from, len), .. data[at..]];
    }

    private static byte[] NotUtf8(Generator gen) => gen.NextInt(5) switch
    {
        0 => [0xFF],
        1 => [0xC3],                   // a lead byte without its continuation
        2 => [0xED, 0xA0, 0x80],       // an encoded surrogate
        3 => [0xC0, 0xAF],             // an overlong encoding
        _ => [0xF8, 0x88, 0x80, 0x80, 0x80],
    };

    private static string Repeat(string s, int n) => new StringBuilder(s.Length * n).Insert(0, s, n).ToString();

    private static IEnumerable<(string Name, byte[] Bytes)> Seeds() =>
        Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "examples"), "*.yaml").Order(StringComparer.Ordinal)
            .Select(f => (Path.GetFileName(f), File.ReadAllBytes(f)));

    [Fact]
    public void MutatedExperimentFilesParseOrFailWithOneClearLine()
    {
        var seeds = Seeds().ToList();
        Assert.True(seeds.Count >= 3, "the example files were not copied next to the tests");
        var gen = new Generator(2024);
        var rejected = 0;
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 10_000; i++)
        {
            var (name, seed) = seeds[i % seeds.Count];
            var bytes = Mutate(seed, gen);
            var sw = Stopwatch.StartNew();
            try
            {
                Experiment.Parse(bytes, name);
            }
            catch (ExperimentException e)
            {
                rejected++;
                Assert.StartsWith(name, e.Message, StringComparison.Ordinal);
                Assert.DoesNotContain('\n', e.Message);
                Assert.True(e.Message.Length <= ExperimentException.MaxLength);
            }
            catch (Exception e)
            {
                var text = Encoding.UTF8.GetString(bytes);
                Assert.Fail($"mutation {i} of {name} threw {e.GetType().Name}: {e.Message[..Math.Min(e.Message.Length, 300)]}\n--- input ---\n{text[..Math.Min(text.Length, 1500)]}");
            }
            slowest = sw.Elapsed > slowest ? sw.Elapsed : slowest;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"mutation {i} of {name} took {sw.Elapsed.TotalSeconds:F2} s");
        }
        // Most mutations break the file; a fuzzer whose inputs all parsed would test nothing.
        Assert.InRange(rejected, 5_000, 10_000);
    }

    [Theory]
    [InlineData("protocol: [1,2", "not valid YAML")]
    [InlineData("dataset: mnist\nprotocol: [1,2", "not valid YAML")]
    [InlineData("methods: [none\n", ":")]
    [InlineData("methods: {a: [b\n", ":")]
    [InlineData("a: 1\n---\nb: 2\n", "2:1: a second YAML document")]
    [InlineData("dataset: mnist\ndataset: mnist\nmethods: [none]\n", "2:")]
    [InlineData("dataset: \"mn\\x01ist\"\nmethods: [none]\n", "dataset: the value holds a control character")]
    [InlineData("dataset: mn\u0001ist\nmethods: [none]\n", "1:12: control character U+0001")]
    [InlineData("x: &a [1]\ny: *a\nmethods: [none]\n", "alias '*a'")]
    [InlineData("methods: [[[[[[[[[[[[[[[[[[[[none]]]]]]]]]]]]]]]]]]]]\n", "nested more than 16 deep")]
    [InlineData("", "expected a mapping")]
    [InlineData("- none\n", "expected a mapping")]
    public void MalformedFilesNameTheFileLineAndColumn(string yaml, string expected)
    {
        var e = Assert.Throws<ExperimentException>(() => Experiment.Parse(Encoding.UTF8.GetBytes(yaml), "bad.yaml"));
        Assert.StartsWith("bad.yaml:", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void BytesThatAreNotUtf8AreRefusedWithTheirPosition()
    {
        byte[] bytes = [.. "dataset: mnist\nprotocol: no"u8, 0xFF, .. "ne\nmethods: [none]\n"u8];
        var e = Assert.Throws<ExperimentException>(() => Experiment.Parse(bytes, "bad.yaml"));
        Assert.Equal("bad.yaml:2:13: byte 0xFF is not UTF-8 text; save the file as UTF-8", e.Message);
        // A byte-order mark is fine.
        Assert.Equal("mnist", Experiment.Parse([0xEF, 0xBB, 0xBF, .. "dataset: mnist\nmethods: [none]\n"u8], "bom.yaml").Dataset);
    }
}
