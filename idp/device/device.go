// Package device names what a member uses, in words people read: the
// browser and system behind a user agent ("Chrome on Android"), the
// password manager or key behind an authenticator's AAGUID ("iCloud
// Keychain"), and whether a user agent is an app's built-in browser.
package device

import (
	"fmt"
	"strings"

	"github.com/communityidp/idp/idp/i18n"
)

// providers names common passkey providers by AAGUID (from the
// community-maintained list of passkey authenticator AAGUIDs). The
// authenticator reports its AAGUID at registration; synced passkey
// providers use a fixed one.
var providers = map[string]string{
	"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
	"adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
	"b5397666-4885-aa6b-cebf-e52262a439a2": "Chromium Browser",
	"771b48fd-d3d4-4f74-9232-fc157ab0507a": "Edge on Mac",
	"08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
	"9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
	"6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
	"fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
	"dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain (Managed)",
	"53414d53-554e-4700-0000-000000000000": "Samsung Pass",
	"bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
	"d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
	"531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
	"b84e4048-15dc-4dd0-8640-f4f60813c8af": "NordPass",
	"0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6": "Keeper",
	"f3809540-7f14-49c1-a8b3-8f813b225541": "Enpass",
	"50726f74-6f6e-5061-7373-50726f746f6e": "Proton Pass",
	"fdb141b2-5d84-443e-8a35-4698c205a502": "KeePassXC",
	"cc45f64e-52a2-451b-831a-4edd8022a202": "ToothPic Passkey Provider",
	"39a5647e-1853-446c-a1f6-a79bae9f5bc7": "IDmelon",
	"891494da-2c90-4d31-a9cd-4eab0aed1309": "Sésame",
	"cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5",
	"ee882879-721c-4913-9775-3dfcce97072a": "YubiKey 5",
	"fa2b99dc-9e39-4257-8f92-4a30d23c4118": "YubiKey 5 NFC",
	"2fc0579f-8113-47ea-b116-bb5a8db9202a": "YubiKey 5 NFC",
	"c5ef55ff-ad9a-4b9f-b580-adebafe026d0": "YubiKey 5Ci",
	"73bb0cd4-e502-49b8-9c6f-b59445bf720b": "YubiKey 5 FIPS",
}

// formatAAGUID writes 16 bytes in the usual UUID form.
func formatAAGUID(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Provider names the passkey provider behind an AAGUID, or "" when it is
// not in the table (or the authenticator reports none).
func Provider(aaguid []byte) string { return providers[formatAAGUID(aaguid)] }

// Of describes a user agent as "Browser on System", or "", in English
// (the audit log's words).
func Of(ua string) string { return In(i18n.English(), ua) }

// In is Of in p's language.
func In(p *i18n.Printer, ua string) string {
	browser, system := browserOf(ua), systemOf(ua)
	switch {
	case browser != "" && system != "":
		return p.T("device.browser_on_system", browser, system)
	case browser != "":
		return browser
	}
	return system
}

func browserOf(ua string) string {
	switch {
	case strings.Contains(ua, "Edg/"), strings.Contains(ua, "EdgiOS/"), strings.Contains(ua, "EdgA/"):
		return "Edge"
	case strings.Contains(ua, "OPR/"):
		return "Opera"
	case strings.Contains(ua, "SamsungBrowser/"):
		return "Samsung Internet"
	case strings.Contains(ua, "Firefox/"), strings.Contains(ua, "FxiOS/"):
		return "Firefox"
	case strings.Contains(ua, "Chrome/"), strings.Contains(ua, "CriOS/"), strings.Contains(ua, "HeadlessChrome/"):
		return "Chrome"
	case strings.Contains(ua, "Safari/"):
		return "Safari"
	}
	return ""
}

func systemOf(ua string) string {
	switch {
	case strings.Contains(ua, "iPhone"):
		return "iPhone"
	case strings.Contains(ua, "iPad"):
		return "iPad"
	case strings.Contains(ua, "Android"):
		return "Android"
	case strings.Contains(ua, "Mac OS X"), strings.Contains(ua, "Macintosh"):
		return "Mac"
	case strings.Contains(ua, "Windows"):
		return "Windows"
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS"
	case strings.Contains(ua, "Linux"):
		return "Linux"
	}
	return ""
}

// IsEmbeddedWebView reports whether the user agent is an app's built-in
// browser (Android WebView, iOS in-app browsers), where passkey prompts
// fail or are missing: the member is told to open the page in a browser.
func IsEmbeddedWebView(ua string) bool {
	for _, marker := range []string{"; wv)", "FBAN/", "FBAV/", "Instagram", "Line/", "MicroMessenger/", "LinkedInApp",
		"Snapchat", "Twitter for", "TikTok", "musical_ly", "Pinterest/", "GSA/"} {
		if strings.Contains(ua, marker) {
			return true
		}
	}
	// iOS: every real browser says Safari/; a WKWebView in an app does not.
	if (strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad")) && strings.Contains(ua, "AppleWebKit") &&
		!strings.Contains(ua, "Safari/") {
		return true
	}
	return false
}
