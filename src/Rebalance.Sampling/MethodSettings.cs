using System.Globalization;

namespace Rebalance.Sampling;

/// <summary>A bad or unknown setting of a method; <see cref="Key"/> names it.</summary>
public sealed class SettingException(string key, string message) : ArgumentException(message)
{
    /// <summary>The setting's name.</summary>
    public string Key { get; } = key;
}

/// <summary>
/// The settings of one method as text values (from an experiment file or the command line), read with
/// defaults and range checks. Every key must be read by the method: <see cref="CheckAllUsed"/> turns a
/// key nobody read (a typo) into an error that lists the known ones.
/// </summary>
public sealed class MethodSettings
{
    private readonly Dictionary<string, string> _values;
    private readonly HashSet<string> _known = [];

    /// <summary>Settings for <paramref name="method"/>.</summary>
    public MethodSettings(string method, IReadOnlyDictionary<string, string>? values = null)
    {
        Method = method;
        _values = values is null ? [] : new Dictionary<string, string>(values, StringComparer.Ordinal);
    }

    /// <summary>The method's name, for messages.</summary>
    public string Method { get; }

    /// <summary>The raw values.</summary>
    public IReadOnlyDictionary<string, string> Values => _values;

    /// <summary>An integer in [min, max].</summary>
    public int Int(string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        if (!Take(key, out var text))
        {
            return fallback;
        }
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
        {
            throw Bad(key, text, $"an integer{Range(min, max)}");
        }
        return v;
    }

    /// <summary>A finite number in [min, max].</summary>
    public double Double(string key, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        if (!Take(key, out var text))
        {
            return fallback;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < min || v > max)
        {
            throw Bad(key, text, $"a number{Range(min, max)}");
        }
        return v;
    }

    /// <summary>true or false.</summary>
    public bool Bool(string key, bool fallback)
    {
        if (!Take(key, out var text))
        {
            return fallback;
        }
        return text.ToLowerInvariant() switch
        {
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => throw Bad(key, text, "true or false"),
        };
    }

    /// <summary>One of <paramref name="allowed"/>.</summary>
    public string Choice(string key, string fallback, params string[] allowed)
    {
        if (!Take(key, out var text))
        {
            return fallback;
        }
        if (!allowed.Contains(text))
        {
            throw Bad(key, text, "one of " + string.Join(", ", allowed));
        }
        return text;
    }

    /// <summary>A comma-separated list (an experiment file's YAML list arrives joined by commas).</summary>
    public IReadOnlyList<string> List(string key, IReadOnlyList<string> fallback)
    {
        if (!Take(key, out var text))
        {
            return fallback;
        }
        return [.. text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
    }

    /// <summary>Counts <paramref name="keys"/> as known without reading them (settings another part of the
    /// program reads, named in the list an unknown key's message gives).</summary>
    public void Allow(IEnumerable<string> keys)
    {
        foreach (var k in keys)
        {
            _known.Add(k);
        }
    }

    /// <summary>Throws for a key no reader asked for.</summary>
    public void CheckAllUsed()
    {
        foreach (var key in _values.Keys)
        {
            if (!_known.Contains(key))
            {
                var known = _known.Count == 0 ? "it takes no settings" : "known: " + string.Join(", ", _known.Order(StringComparer.Ordinal));
                throw new SettingException(key, $"unknown setting '{key}' for method '{Method}' ({known})");
            }
        }
    }

    private bool Take(string key, out string text)
    {
        _known.Add(key);
        return _values.TryGetValue(key, out text!);
    }

    private SettingException Bad(string key, string text, string expected) =>
        new(key, $"setting '{key}' of method '{Method}': expected {expected}, got '{text}'");

    private static string Range(double min, double max) =>
        (min > double.MinValue && min > int.MinValue, max < double.MaxValue && max < int.MaxValue) switch
        {
            (true, true) => $" from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}",
            (true, false) => $" of at least {min.ToString(CultureInfo.InvariantCulture)}",
            (false, true) => $" of at most {max.ToString(CultureInfo.InvariantCulture)}",
            _ => "",
        };
}
