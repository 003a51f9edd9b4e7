package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// validatePasskeys checks that the relying party ID, the issuer and the
// allowed origins fit together the way browsers require. Origin and RP ID
// mismatches are the most common passkey failure, so each refusal explains
// the rule rather than only naming the field.
func (c *Config) validatePasskeys(p *Problems) {
	pk := &c.Passkeys
	switch pk.Rollout {
	case RolloutOff, RolloutAdmins, RolloutEveryone:
	case RolloutGroup:
		if len(pk.RolloutGroup) == 0 {
			p.add("passkeys.rollout_group", "required when passkeys.rollout is group: list usernames, or roles as role:admin")
		}
	default:
		p.add("passkeys.rollout", fmt.Sprintf("%q is not one of off, admins, group, everyone", pk.Rollout))
	}
	for i, g := range pk.RolloutGroup {
		if role, ok := strings.CutPrefix(g, "role:"); ok && role != "admin" && role != "member" {
			p.add(fmt.Sprintf("passkeys.rollout_group[%d]", i), fmt.Sprintf("unknown role %q (use role:admin or role:member)", role))
		}
	}
	switch pk.UserVerification {
	case "required", "preferred":
	default:
		p.add("passkeys.user_verification", fmt.Sprintf("%q is not one of required, preferred", pk.UserVerification))
	}
	if pk.OnClone != "refuse" && pk.OnClone != "warn" {
		p.add("passkeys.on_clone", fmt.Sprintf("%q is not one of refuse, warn", pk.OnClone))
	}
	if pk.SuggestionSnooze.D() < time.Hour {
		p.add("passkeys.suggestion_snooze", "must be at least 1h")
	}
	for i, a := range pk.Android {
		f := fmt.Sprintf("passkeys.android[%d]", i)
		if !androidPackage.MatchString(a.PackageName) {
			p.add(f+".package_name", fmt.Sprintf("%q is not an Android package name such as com.example.app", a.PackageName))
		}
		if len(a.SHA256CertFingerprints) == 0 {
			p.add(f+".sha256_cert_fingerprints", "required: the SHA-256 fingerprint of the app's signing certificate (keytool -list -v)")
		}
		for j, fp := range a.SHA256CertFingerprints {
			if _, err := ParseFingerprint(fp); err != nil {
				p.add(fmt.Sprintf("%s.sha256_cert_fingerprints[%d]", f, j), err.Error())
			}
		}
	}
	for i, a := range pk.IOS {
		if !iosAppID.MatchString(a.AppID) {
			p.add(fmt.Sprintf("passkeys.ios[%d].app_id", i), fmt.Sprintf("%q is not TEAMID.bundle.id (a 10-character team ID, then the bundle ID)", a.AppID))
		}
	}
	if pk.Rollout == RolloutOff {
		return
	}
	issuer, err := url.Parse(c.Issuer)
	if err != nil {
		return // reported for issuer
	}
	host := issuer.Hostname()
	rp := pk.RPID
	switch {
	case rp == "":
		p.add("passkeys.rp_id", "required")
		return
	case net.ParseIP(rp) != nil:
		p.add("passkeys.rp_id", fmt.Sprintf("%q is an IP address, and browsers only create passkeys for a domain name: "+
			"use a host name in issuer (http://localhost:8080 for development), or set passkeys.rollout: off", rp))
		return
	case rp != strings.ToLower(rp) || strings.ContainsAny(rp, ":/ ") || strings.HasPrefix(rp, ".") || strings.HasSuffix(rp, "."):
		p.add("passkeys.rp_id", fmt.Sprintf("%q is not a domain name (no scheme, port or path; lower case)", rp))
		return
	case !domainWithin(host, rp):
		p.add("passkeys.rp_id", fmt.Sprintf("%q is neither the issuer's host %q nor a parent domain of it; browsers only "+
			"let a page use passkeys of its own domain, so every sign-in would fail with a security error", rp, host))
		return
	}
	for i, o := range pk.Origins {
		f := fmt.Sprintf("passkeys.origins[%d]", i)
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			p.add(f, fmt.Sprintf("%q is not an origin such as https://community.example", o))
			continue
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "localhost") {
			p.add(f, "must use https (browsers allow passkeys only in secure contexts)")
			continue
		}
		// An origin outside the RP ID works only through a related origins
		// file at https://<rp_id>/.well-known/webauthn, which this provider
		// can serve only when the RP ID is its own host.
		if !domainWithin(u.Hostname(), rp) && rp != host {
			p.add(f, fmt.Sprintf("%q is outside %q; browsers accept it only through https://%s/.well-known/webauthn, "+
				"which this provider serves only when passkeys.rp_id is its own host (%s)", o, rp, rp, host))
		}
	}
}

var (
	androidPackage = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z][a-zA-Z0-9_]*)+$`)
	iosAppID       = regexp.MustCompile(`^[A-Z0-9]{10}\.[A-Za-z0-9.-]+$`)
)

// domainWithin reports whether host is domain or a subdomain of it.
func domainWithin(host, domain string) bool {
	host = strings.ToLower(host)
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// ParseFingerprint reads a SHA-256 certificate fingerprint written as hex,
// with or without colons.
func ParseFingerprint(fp string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(fp), ":", ""))
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("%q is not a SHA-256 fingerprint (32 bytes in hex, e.g. 14:6D:E9:...)", fp)
	}
	return b, nil
}

// AndroidOrigin is the origin an Android app's WebAuthn requests carry:
// android:apk-key-hash: and the base64url SHA-256 of its signing cert.
func AndroidOrigin(fingerprint []byte) string {
	return "android:apk-key-hash:" + base64.RawURLEncoding.EncodeToString(fingerprint)
}

// PasskeyOrigins are the web origins WebAuthn responses may come from: the
// issuer's and the configured extra ones.
func (c *Config) PasskeyOrigins() []string {
	out := []string{strings.TrimSuffix(c.Issuer, "/")}
	if u, err := url.Parse(c.Issuer); err == nil {
		out[0] = u.Scheme + "://" + u.Host
	}
	for _, o := range c.Passkeys.Origins {
		o = strings.TrimSuffix(o, "/")
		if o != out[0] {
			out = append(out, o)
		}
	}
	return out
}

// AndroidOrigins are the apk-key-hash origins of the configured apps.
func (c *Config) AndroidOrigins() []string {
	var out []string
	for _, a := range c.Passkeys.Android {
		for _, fp := range a.SHA256CertFingerprints {
			if b, err := ParseFingerprint(fp); err == nil {
				out = append(out, AndroidOrigin(b))
			}
		}
	}
	return out
}
