package oidcop

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// reply is what a refresh token's use answered: its one successor and the
// access token issued with it. Within the reuse grace it is sent again,
// unchanged, to a client that lost it.
type reply struct {
	Refresh         string    `json:"refresh"`
	AccessID        string    `json:"access_id"`
	AccessExpiresAt time.Time `json:"access_expires_at"`
}

// replyAEAD is AES-256-GCM under a key derived from the used refresh
// token's value, which the database only holds hashed: the stored reply
// opens for whoever presents that token again, and for nobody reading the
// database.
func replyAEAD(token string) (cipher.AEAD, error) {
	key := sha256.Sum256([]byte("idp refresh reply\x00" + token))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealReply seals r for the token value whose row is id (the associated
// data: a reply moved to another row does not open).
func sealReply(token, id string, r reply) ([]byte, error) {
	plain, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode refresh reply: %w", err)
	}
	aead, err := replyAEAD(token)
	if err != nil {
		return nil, fmt.Errorf("seal refresh reply: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal refresh reply: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

// openReply opens what sealReply sealed.
func openReply(token, id string, sealed []byte) (*reply, error) {
	aead, err := replyAEAD(token)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("refresh reply too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("open refresh reply: %w", err)
	}
	var r reply
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, fmt.Errorf("decode refresh reply: %w", err)
	}
	return &r, nil
}
