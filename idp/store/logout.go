package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// OutboxBackchannel is the outbox kind of back-channel logout notices:
// Recipient is the client ID, Payload a LogoutNotice (not secret, so not
// sealed).
const OutboxBackchannel = "backchannel"

// LogoutNotice says whose session ended, for a logout token.
type LogoutNotice struct {
	Subject string `json:"sub"`
	SID     string `json:"sid,omitempty"`
}

// SessionSID is the sid claim of a session (in ID and logout tokens):
// derived from its ID, which itself never leaves the provider.
func SessionSID(sessionID string) string {
	sum := sha256.Sum256([]byte("sid\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// LogoutMessages are the outbox messages that tell each client of the
// ended sessions that they ended.
func LogoutMessages(ended []Session) []*OutboxMessage {
	var out []*OutboxMessage
	for _, s := range ended {
		for _, c := range s.Clients {
			out = append(out, logoutMessage(c, LogoutNotice{Subject: s.UserID, SID: SessionSID(s.ID)}))
		}
	}
	return out
}

// GrantLogoutMessage is the notice to clientID that userID's access was
// removed: no sid, so it ends every session of the member at the app.
func GrantLogoutMessage(userID, clientID string) *OutboxMessage {
	return logoutMessage(clientID, LogoutNotice{Subject: userID})
}

// logoutMessage is notice for clientID as an outbox message, due at once
// whatever the worker's clock says.
func logoutMessage(clientID string, notice LogoutNotice) *OutboxMessage {
	payload, _ := json.Marshal(notice)
	return &OutboxMessage{ID: newOutboxID(), Kind: OutboxBackchannel, Recipient: clientID, Topic: "logout",
		Payload: payload, CreatedAt: time.Now(), NextAttemptAt: time.Unix(0, 0)}
}

func newOutboxID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
