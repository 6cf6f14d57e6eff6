using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Rebalance.Cli.Tests;

/// <summary>
/// Renders a written HTML page in headless Chromium (Debian's <c>chromium</c>, which tools/setup.sh
/// installs) and checks what a reader would see: every image loaded and non-empty, every chart (SVG)
/// drawn with content, and nothing wider than the window. A copy of the page with a small script that
/// measures the laid-out elements is opened from the same folder, so relative image paths resolve.
/// </summary>
internal static partial class BrowserCheck
{
    private const int WindowWidth = 1440;

    private const string Probe = """
        <script>
        window.addEventListener('load', () => {
          const items = [];
          for (const el of document.querySelectorAll('img, svg')) {
            if (el.tagName.toLowerCase() === 'svg' && el.parentElement.closest('svg')) continue;
            const r = el.getBoundingClientRect();
            items.push({ tag: el.tagName.toLowerCase(), what: el.getAttribute('alt') || el.parentElement.textContent.slice(0, 60),
              width: r.width, height: r.height, right: r.right + window.scrollX,
              natural: el.tagName.toLowerCase() === 'img' ? el.naturalWidth : -1, shapes: el.querySelectorAll('*').length });
          }
          const pre = document.createElement('pre');
          pre.id = 'layout-check';
          pre.textContent = JSON.stringify({ viewport: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth, items });
          document.body.appendChild(pre);
        });
        </script>
        """;

    /// <summary>The executable, or null when Chromium is not installed.</summary>
    private static string? Chromium() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    /// <summary>Renders <paramref name="page"/> and asserts that it has at least
    /// <paramref name="minImages"/> images and <paramref name="minCharts"/> charts, all visible and inside the window.</summary>
    public static void AssertRendersWell(string page, int minImages, int minCharts)
    {
        var chromium = Chromium();
        Assert.True(chromium is not null, "headless Chromium is needed to check the reports: install Debian's 'chromium' (tools/setup.sh does)");
        var probe = Path.Combine(Path.GetDirectoryName(page)!, ".layout-check-" + Path.GetFileName(page));
        File.WriteAllText(probe, File.ReadAllText(page).Replace("</body>", Probe + "</body>", StringComparison.Ordinal));
        var profile = Path.Combine(Path.GetTempPath(), "rebalance-chromium-" + Guid.NewGuid().ToString("N"));
        try
        {
            var psi = new ProcessStartInfo(chromium!)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--allow-file-access-from-files",
                         $"--user-data-dir={profile}", $"--window-size={WindowWidth},1000", "--virtual-time-budget=15000", "--dump-dom", new Uri(probe).AbsoluteUri })
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var dom = p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(120_000), "chromium did not finish within 2 minutes");
            var m = LayoutJson().Match(dom);
            Assert.True(m.Success, $"no layout report in Chromium's output (exit {p.ExitCode}): {stderr.Result[..Math.Min(stderr.Result.Length, 600)]}");
            var report = JsonNode.Parse(WebUtility.HtmlDecode(m.Groups[1].Value))!;
            var viewport = (double)report["viewport"]!;
            Assert.True((double)report["scroll"]! <= viewport, $"{page}: the page is {report["scroll"]} px wide in a {viewport} px window");
            var items = report["items"]!.AsArray().Select(i => i!).ToList();
            Assert.True(items.Count(i => (string)i["tag"]! == "img") >= minImages, $"{page}: {items.Count(i => (string)i["tag"]! == "img")} images, expected at least {minImages}");
            Assert.True(items.Count(i => (string)i["tag"]! == "svg") >= minCharts, $"{page}: {items.Count(i => (string)i["tag"]! == "svg")} charts, expected at least {minCharts}");
            foreach (var i in items)
            {
                var what = $"{page}: {i["tag"]} '{i["what"]}'";
                Assert.True((double)i["width"]! > 10 && (double)i["height"]! > 10, $"{what} is {i["width"]}x{i["height"]} px");
                Assert.True((double)i["right"]! <= viewport + 0.5, $"{what} ends at {i["right"]} px, beyond the {viewport} px window");
                if ((string)i["tag"]! == "img")
                {
                    Assert.True((int)i["natural"]! > 0, $"{what} did not load");
                }
                else
                {
                    Assert.True((int)i["shapes"]! > 2, $"{what} is empty");
                }
            }
        }
        finally
        {
            File.Delete(probe);
            if (Directory.Exists(profile))
            {
                Directory.Delete(profile, recursive: true);
            }
        }
    }

    [GeneratedRegex("<pre id=\"layout-check\">(.*?)</pre>", RegexOptions.Singleline)]
    private static partial Regex LayoutJson();
}
