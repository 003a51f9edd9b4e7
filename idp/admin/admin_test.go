package admin

import (
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/passkey"
)

// The rollout page's failure groups: the brief's "contact technical
// support" cases (origin and security errors) apart from cancellations.
func TestFailureKind(t *testing.T) {
	for code, want := range map[string]string{
		passkey.CodeCancelled: kindCancelled, passkey.CodeOrigin: kindOrigin, passkey.CodeSecurity: kindOrigin,
		passkey.CodeUnknown: kindUnknown, passkey.CodeNoUV: kindUV, "PK-FAILED": kindOther, "": kindOther,
	} {
		if got := failureKind(code); got != want {
			t.Errorf("failureKind(%q) = %s, want %s", code, got, want)
		}
	}
	for _, k := range []string{kindCancelled, kindOrigin, kindUnknown, kindUV, kindOther} {
		if i18n.English().T(k) == k {
			t.Errorf("%s has no words", k)
		}
	}
}

func TestShareAndSorted(t *testing.T) {
	for _, c := range []struct {
		n, of int
		want  string
	}{{0, 0, "–"}, {1, 4, "25%"}, {2, 3, "67%"}, {5, 5, "100%"}} {
		if got := share(c.n, c.of); got != c.want {
			t.Errorf("share(%d, %d) = %q, want %q", c.n, c.of, got, c.want)
		}
	}
	got := sorted(map[string]int{"Safari on iPhone": 2, "Chrome on Android": 5, "Firefox on Linux": 2})
	if len(got) != 3 || got[0].Name != "Chrome on Android" || got[0].N != 5 || got[1].Name != "Firefox on Linux" {
		t.Errorf("sorted: %+v", got)
	}
}

// Every console action a stale sign-in can hold has a label to name it
// on the confirm page, and the label has words.
func TestActionLabels(t *testing.T) {
	r := gin.New()
	(&Handler{}).Register(r.Group("/"))
	held := 0
	for _, ri := range r.Routes() {
		if ri.Method != "POST" {
			continue
		}
		path := strings.NewReplacer(":id", "x", ":pk", "x").Replace(ri.Path)
		if label := actionLabel(path); label != "" {
			held++
			if i18n.English().T(label) == label {
				t.Errorf("%s: %s has no words", ri.Path, label)
			}
		}
	}
	if held < 8 {
		t.Errorf("only %d actions are held across a sign-in", held)
	}
}
