package config

import (
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MaxLogoSize bounds branding.logo_file: the logo is sent with sign-in
// pages to phones.
const MaxLogoSize = 256 << 10

// logoTypes are the image types branding.logo_file may be, by extension.
var logoTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml",
}

// LogoType is the content type of branding.logo_file.
func (b Branding) LogoType() string { return logoTypes[strings.ToLower(filepath.Ext(b.LogoFile))] }

func (c *Config) validateBranding(p *Problems) {
	b := c.Branding
	if b.LogoFile != "" && b.LogoURL != "" {
		p.add("branding.logo_url", "set either logo_file or logo_url, not both")
	}
	if b.LogoFile != "" {
		if b.LogoType() == "" {
			p.add("branding.logo_file", fmt.Sprintf("%q is not a .png, .jpg, .gif, .webp or .svg file", b.LogoFile))
		} else if fi, err := os.Stat(b.LogoFile); err != nil {
			p.add("branding.logo_file", fmt.Sprintf("cannot read %q: %v", b.LogoFile, err))
		} else if fi.IsDir() || fi.Size() == 0 || fi.Size() > MaxLogoSize {
			p.add("branding.logo_file", fmt.Sprintf("%q must be an image file of at most %d KiB", b.LogoFile, MaxLogoSize>>10))
		}
	}
	if b.LogoURL != "" {
		if u, err := url.Parse(b.LogoURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			p.add("branding.logo_url", fmt.Sprintf("%q is not an https URL (or use logo_file to serve the logo from this provider)", b.LogoURL))
		}
	}
	if b.PrimaryColor != "" {
		if r, ok := contrastWithWhite(b.PrimaryColor); !ok {
			p.add("branding.primary_color", fmt.Sprintf("%q is not a color written #rrggbb", b.PrimaryColor))
		} else if r < 4.5 {
			p.add("branding.primary_color", fmt.Sprintf("%s is too light: white button text on it has a contrast of %.1f:1, and at least 4.5:1 is needed to be readable (WCAG AA); pick a darker shade", b.PrimaryColor, r))
		} else if t := r * (tintLuminance + 0.05) / 1.05; t < 4.5 {
			// Links are in the primary color too, also on the pages'
			// tinted backgrounds (the error box is the darkest).
			p.add("branding.primary_color", fmt.Sprintf("%s is too light: links in it on the error box's tinted background have a contrast of %.1f:1, and at least 4.5:1 is needed to be readable (WCAG AA); pick a darker shade", b.PrimaryColor, t))
		}
	}
	for _, f := range []struct{ field, value string }{{"branding.support_url", b.SupportURL}, {"branding.help_url", b.HelpURL}} {
		if f.value == "" {
			continue
		}
		if u, err := url.Parse(f.value); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add(f.field, fmt.Sprintf("%q is not an http(s) URL", f.value))
		}
	}
	if b.SupportEmail != "" {
		if a, err := mail.ParseAddress(b.SupportEmail); err != nil || a.Address != b.SupportEmail {
			p.add("branding.support_email", fmt.Sprintf("%q is not an email address such as support@example.org", b.SupportEmail))
		}
	}
}

// tintLuminance is the relative luminance of the lightest scheme's
// darkest background behind text in the primary color: the error box
// (--err-bg, #fdecea, in ui/static/style.css).
const tintLuminance = 0.8681

// contrastWithWhite is the WCAG contrast ratio of white on the #rrggbb
// color hex.
func contrastWithWhite(hex string) (float64, bool) {
	if len(hex) != 7 || hex[0] != '#' {
		return 0, false
	}
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil {
		return 0, false
	}
	channel := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	l := 0.2126*channel(v>>16&0xff) + 0.7152*channel(v>>8&0xff) + 0.0722*channel(v&0xff)
	return 1.05 / (l + 0.05), true
}
