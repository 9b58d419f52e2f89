// Package secrets encrypts upstream credentials at rest with AES-256-GCM.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// Box seals and opens credentials with one key.
type Box struct {
	aead cipher.AEAD
}

// version prefix of every ciphertext, so the scheme can change later.
const version byte = 1

// NewBox derives the AES-256 key from the configured secret: a base64 string that
// decodes to 32 bytes is used as is; anything else is hashed with SHA-256.
func NewBox(secret string) (*Box, error) {
	if secret == "" {
		return nil, errors.New("secrets: empty encryption key")
	}
	key, err := base64.StdEncoding.DecodeString(secret)
	if err != nil || len(key) != 32 {
		sum := sha256.Sum256([]byte(secret))
		key = sum[:]
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext. An empty plaintext seals to nil (no credential).
func (b *Box) Seal(plaintext string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, []byte(plaintext), nil), nil
}

// Open decrypts a ciphertext from Seal. nil opens to "".
func (b *Box) Open(ciphertext []byte) (string, error) {
	if len(ciphertext) == 0 {
		return "", nil
	}
	ns := b.aead.NonceSize()
	if len(ciphertext) < 1+ns || ciphertext[0] != version {
		return "", fmt.Errorf("secrets: malformed ciphertext")
	}
	pt, err := b.aead.Open(nil, ciphertext[1:1+ns], ciphertext[1+ns:], nil)
	if err != nil {
		return "", fmt.Errorf("secrets: cannot decrypt credential (wrong GATEWAY_ENCRYPTION_KEY?): %w", err)
	}
	return string(pt), nil
}
