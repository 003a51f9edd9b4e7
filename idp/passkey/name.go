package passkey

import (
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/i18n"
)

// DefaultNameIn is the name a new passkey gets before the member picks
// one, in p's language: the provider's name, else the browser and system
// that created it ("Chrome en Android").
func DefaultNameIn(p *i18n.Printer, aaguid []byte, userAgent string) string {
	if name := device.Provider(aaguid); name != "" {
		return name
	}
	if d := device.In(p, userAgent); d != "" {
		return d
	}
	return p.T("passkey.default_name")
}
