package device

import (
	"testing"

	"golang.org/x/text/language"

	"github.com/communityidp/idp/idp/i18n"
)

func TestNames(t *testing.T) {
	icloud := []byte{0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd}
	if got := Provider(icloud); got != "iCloud Keychain" {
		t.Errorf("Provider(iCloud) = %q", got)
	}
	if got := Provider(make([]byte, 16)); got != "" {
		t.Errorf("Provider(zero) = %q", got)
	}
	for ua, want := range map[string]string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1": "Safari on iPhone",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0":                   "Edge on Windows",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0":                                                                  "Firefox on Linux",
		"curl/8.5.0": "",
	} {
		if got := Of(ua); got != want {
			t.Errorf("Of(%.40q) = %q, want %q", ua, got, want)
		}
	}
	de := i18n.Default().Printer(language.German)
	if got := In(de, "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"); got != "Chrome auf Android" {
		t.Errorf("In(de) = %q", got)
	}
}

func TestIsEmbeddedWebView(t *testing.T) {
	for ua, want := range map[string]bool{
		"Mozilla/5.0 (Linux; Android 14; Pixel 8; wv) AppleWebKit/537.36 Version/4.0 Chrome/130.0 Mobile Safari/537.36":                           true,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram":                 true,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148":                           true,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1": false,
		"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36":                                false,
	} {
		if got := IsEmbeddedWebView(ua); got != want {
			t.Errorf("IsEmbeddedWebView(%.60q) = %v, want %v", ua, got, want)
		}
	}
}
