package web

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/passkey"
)

// The page script's texts are in the page's language, valid JSON that
// cannot end its script element, and the same on every page of that
// language.
func TestPasskeyMessages(t *testing.T) {
	cat := i18n.Default()
	for _, tc := range []struct {
		tag  language.Tag
		want string
	}{
		{language.German, "Die Passkey-Abfrage wurde abgebrochen"},
		{language.English, "The passkey prompt was cancelled"},
	} {
		v := View{p: cat.Printer(tc.tag)}
		first := v.PasskeyMessages()
		var got struct {
			Codes map[string]string `json:"codes"`
			Text  map[string]string `json:"text"`
		}
		if err := json.Unmarshal([]byte(first), &got); err != nil {
			t.Fatalf("%v: %v: %s", tc.tag, err, first)
		}
		if !strings.HasPrefix(got.Codes[passkey.CodeCancelled], tc.want) || got.Text["generic"] == "" ||
			len(got.Codes) != len(passkey.Messages) {
			t.Errorf("%v: %s", tc.tag, first)
		}
		if strings.ContainsAny(string(first), "<>") {
			t.Errorf("%v: markup characters unescaped: %s", tc.tag, first)
		}
		if again := v.PasskeyMessages(); again != first {
			t.Errorf("%v: a second page got other texts", tc.tag)
		}
	}
}
