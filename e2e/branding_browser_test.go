package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/communityidp/idp/config"
)

// In a real browser the community's logo loads (the CSP lets it), the
// primary color is the buttons' color, the help and support links are
// there, and a failure's support details copy to the clipboard.
func TestBrandingInBrowser(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.svg")
	svg := `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="32"><rect width="64" height="32" fill="#8a2be2"/></svg>`
	if err := os.WriteFile(logo, []byte(svg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProvider(t, func(c *config.Config) {
		c.Branding = config.Branding{SiteName: "Maple Street Forum", LogoFile: logo, PrimaryColor: "#8a2be2",
			SupportURL: "https://maple.example/support", HelpURL: "https://maple.example/help"}
	})
	c := newChrome(t)
	c.open(p.URL + "/login")
	c.waitFor("Maple Street Forum")
	var got struct {
		Logo   int    `json:"logo"`
		Button string `json:"button"`
		Help   string `json:"help"`
		Sup    string `json:"support"`
	}
	c.eval(`(() => {
		const img = document.querySelector('header img.logo');
		const btn = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Continue');
		const link = (t) => ([...document.querySelectorAll('footer a')].find((a) => a.textContent.trim() === t) || {}).href || '';
		return {logo: img && img.complete ? img.naturalWidth : 0, button: btn ? getComputedStyle(btn).backgroundColor : '',
			help: link('Help'), support: link('Contact support')};
	})()`, &got)
	if got.Logo != 64 || got.Button != "rgb(138, 43, 226)" || got.Help != "https://maple.example/help" || got.Sup != "https://maple.example/support" {
		t.Fatalf("branding in the browser: %+v", got)
	}
	c.screenshot("branding-sign-in")

	// A failure page: open the support details and copy them.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.Call(c.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: p.URL}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	c.open(p.URL + "/nowhere")
	c.click("Details for support")
	// Headless, the page never has the focus the clipboard asks for.
	if _, err := chromedp.Call(c.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	c.click("Copy details")
	c.waitFor("Copied")
	var copied string
	c.js(`return navigator.clipboard.readText();`, &copied)
	for _, want := range []string{"Error code: NOT-FOUND", "Device: ", "Page: /nowhere", "Reference: "} {
		if !strings.Contains(copied, want) {
			t.Errorf("copied details lack %q:\n%s", want, copied)
		}
	}
}
