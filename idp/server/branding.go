package server

import (
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/web"
)

// branding is the community's look from the configuration: the logo the
// provider serves itself, the stylesheet with its color, and what the
// pages link to.
type branding struct {
	brand    web.Brand
	logo     []byte
	logoType string
	css      []byte
	// imgSrc is the logo_url's origin, for the CSP's img-src.
	imgSrc string
}

func newBranding(b config.Branding) (*branding, error) {
	out := &branding{brand: web.Brand{SupportURL: b.SupportURL, SupportEmail: b.SupportEmail, HelpURL: b.HelpURL}}
	if b.LogoFile != "" {
		data, err := os.ReadFile(b.LogoFile)
		if err != nil {
			return nil, fmt.Errorf("branding.logo_file: %w", err)
		}
		out.logo, out.logoType = data, b.LogoType()
		out.brand.Logo = "/branding/logo?v=" + web.Fingerprint(data)
	}
	if b.LogoURL != "" {
		u, err := url.Parse(b.LogoURL)
		if err != nil {
			return nil, fmt.Errorf("branding.logo_url: %w", err)
		}
		out.brand.Logo, out.imgSrc = b.LogoURL, u.Scheme+"://"+u.Host
	}
	if b.PrimaryColor != "" {
		// The light theme only: the dark theme's colors are chosen for
		// contrast on a dark background, which a brand color may not have.
		out.css = []byte(fmt.Sprintf("@media not (prefers-color-scheme: dark) {\n  :root { --primary: %s; --primary-text: #ffffff; }\n}\n", b.PrimaryColor))
		out.brand.Stylesheet = "/branding.css?v=" + web.Fingerprint(out.css)
	}
	return out, nil
}

// register serves the logo and the stylesheet (fingerprinted, so cached
// for long).
func (b *branding) register(g *gin.Engine) {
	serve := func(path, contentType string, body []byte) {
		g.GET(path, func(c *gin.Context) {
			c.Header("Cache-Control", "public, max-age=31536000, immutable")
			if contentType == "image/svg+xml" {
				// An SVG may hold script: never run it, even if opened alone.
				c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
			}
			c.Data(http.StatusOK, contentType, body)
		})
	}
	if b.logo != nil {
		serve("/branding/logo", b.logoType, b.logo)
	}
	if b.css != nil {
		serve("/branding.css", "text/css; charset=utf-8", b.css)
	}
}
