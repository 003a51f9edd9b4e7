package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// A password manager that flips a passkey's backup eligibility (as
// Keeper, KeePassXC or iCloud Keychain before it syncs do) does not lock
// the member out: Chromium's virtual authenticator changes the flags of
// the passkey it holds, and the sign-in goes through, both ways; the
// passkey's stored flags follow and the change is in the audit log.
func TestBackupEligibleFlipInBrowser(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	c.adminWithPasskey(p, app, "Vault Passkey") // BE and BS set, like a synced passkey
	res, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: c.auths[0]})
	if err != nil || len(res.Credentials) != 1 {
		t.Fatalf("credentials: %v %v", res, err)
	}
	cred := res.Credentials[0]
	admin := userID(t, p, adminLogin)
	for i, eligible := range []bool{false, true} {
		if _, err := chromedp.Call(c.ctx, webauthn.SetCredentialProperties, webauthn.SetCredentialPropertiesParams{
			AuthenticatorID: c.auths[0], CredentialID: cred.CredentialID, BackupEligibility: &eligible, BackupState: &eligible}); err != nil {
			t.Fatalf("set the credential's flags: %v", err)
		}
		c.presence(false)
		c.open(app.URL + "/login")
		c.fill("Email or username", adminLogin)
		c.click("Continue")
		c.presence(true)
		c.click("Sign in with a passkey")
		c.waitFor("Signed in as admin")
		pks, err := p.store.PasskeysByUser(context.Background(), admin)
		if err != nil || len(pks) != 1 || pks[0].BackupEligible != eligible || pks[0].BackupState != eligible {
			t.Fatalf("after the flip to %v: %+v %v", eligible, pks, err)
		}
		if ev := events(t, p, "passkey.flags_changed"); len(ev) != i+1 {
			t.Fatalf("%d flag changes audited, want %d", len(ev), i+1)
		}
		c.signOut(p)
	}
}
