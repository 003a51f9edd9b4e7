package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/communityidp/idp/config"
)

// The community's branding shows on the sign-in and settings pages: its
// logo (served by the provider), its color, and links to help and
// support. A failure page lists the details support asks for, ready to
// copy.
func TestBranding(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.svg")
	svg := `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><circle cx="16" cy="16" r="14" fill="#1f5fbf"/></svg>`
	if err := os.WriteFile(logo, []byte(svg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProvider(t, func(c *config.Config) {
		c.Branding = config.Branding{SiteName: "Maple Street Forum", LogoFile: logo, PrimaryColor: "#8a2be2",
			SupportURL: "https://maple.example/support", HelpURL: "https://maple.example/help"}
	})
	b := newBrowser(t, p)
	login := b.Get(p.URL + "/login")
	for _, want := range []string{"Maple Street Forum", `src="/branding/logo?v=`, `href="/branding.css?v=`,
		`href="https://maple.example/help"`, `href="https://maple.example/support"`} {
		if !strings.Contains(login.Body, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	signInPage(t, b, p, aliceLogin, alicePassword)
	if r := b.Get(p.URL + "/settings"); !strings.Contains(r.Body, `src="/branding/logo?v=`) || !strings.Contains(r.Body, "https://maple.example/support") {
		t.Errorf("settings page without the branding: %s", r.Body)
	}

	for path, want := range map[string]string{"/branding/logo": svg, "/branding.css": "--primary: #8a2be2"} {
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/branding/logo" && (resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox")) {
			t.Errorf("logo served as %q with CSP %q", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
		}
	}

	// A failure page: the code, the device, the browser and a copy button.
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/nowhere", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
	r := b.do(req)
	text := r.Text()
	for _, want := range []string{"Details for support", "NOT-FOUND", "Chrome on Linux", "Chrome/156.0.0.0", "/nowhere", "Copy details", "Contact support"} {
		if !strings.Contains(text, want) {
			t.Errorf("failure page lacks %q: %s", want, text)
		}
	}
}

// A logo from another site is allowed by the page's CSP, and only that.
func TestBrandingLogoURL(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Branding = config.Branding{SiteName: "Maple Street Forum", LogoURL: "https://cdn.maple.example/logo.png", SupportEmail: "help@maple.example"}
	})
	resp, err := http.Get(p.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.maple.example;") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(string(body), `src="https://cdn.maple.example/logo.png"`) || !strings.Contains(string(body), `href="mailto:help@maple.example"`) {
		t.Errorf("page: %s", body)
	}
}
