package passkey

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/communityidp/idp/config"
)

// WellKnown are the documents that let apps and other origins use the
// site's passkeys, rendered once from the configuration. A nil document
// is not served (404).
type WellKnown struct {
	// AssetLinks is /.well-known/assetlinks.json: Android apps allowed to
	// use the site's credentials.
	AssetLinks []byte
	// AppleAppSiteAssociation is /.well-known/apple-app-site-association:
	// iOS apps allowed to use them (webcredentials).
	AppleAppSiteAssociation []byte
	// RelatedOrigins is /.well-known/webauthn: other web origins allowed
	// to use passkeys of this RP ID (WebAuthn related origin requests).
	RelatedOrigins []byte
}

// NewWellKnown renders the documents for cfg.
func NewWellKnown(cfg config.Config) (WellKnown, error) {
	var w WellKnown
	pk := cfg.Passkeys
	if len(pk.Android) > 0 {
		type target struct {
			Namespace    string   `json:"namespace"`
			PackageName  string   `json:"package_name"`
			Fingerprints []string `json:"sha256_cert_fingerprints"`
		}
		type statement struct {
			Relation []string `json:"relation"`
			Target   target   `json:"target"`
		}
		var doc []statement
		for _, a := range pk.Android {
			t := target{Namespace: "android_app", PackageName: a.PackageName}
			for _, fp := range a.SHA256CertFingerprints {
				b, err := config.ParseFingerprint(fp)
				if err != nil {
					return w, err
				}
				t.Fingerprints = append(t.Fingerprints, colonHex(b))
			}
			doc = append(doc, statement{Relation: []string{"delegate_permission/common.get_login_creds"}, Target: t})
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return w, fmt.Errorf("render assetlinks.json: %w", err)
		}
		w.AssetLinks = b
	}
	if len(pk.IOS) > 0 {
		var apps []string
		for _, a := range pk.IOS {
			apps = append(apps, a.AppID)
		}
		b, err := json.Marshal(map[string]any{"webcredentials": map[string]any{"apps": apps}})
		if err != nil {
			return w, fmt.Errorf("render apple-app-site-association: %w", err)
		}
		w.AppleAppSiteAssociation = b
	}
	if origins := cfg.PasskeyOrigins(); len(origins) > 1 {
		b, err := json.Marshal(map[string]any{"origins": origins})
		if err != nil {
			return w, fmt.Errorf("render related origins: %w", err)
		}
		w.RelatedOrigins = b
	}
	return w, nil
}

// colonHex writes a fingerprint the way keytool and assetlinks do.
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}
