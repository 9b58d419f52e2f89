// Package auth verifies API keys: SHA-256 of the presented secret, looked up in an
// in-process cache backed by the database, invalidated across replicas by events.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"
)

// KeyPrefix starts every key the gateway issues.
const KeyPrefix = "sk-gate-"

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// secretLen characters of base62 carry 43*log2(62) ≈ 256 bits of randomness.
const secretLen = 43

// displayLen is how much of the key is kept in clear for display ("sk-gate-AbCd").
const displayLen = len(KeyPrefix) + 4

// NewKey returns a fresh key, its SHA-256 (hex) and its display prefix.
func NewKey() (plaintext, hash, prefix string, err error) {
	var b strings.Builder
	b.Grow(len(KeyPrefix) + secretLen)
	b.WriteString(KeyPrefix)
	max := big.NewInt(int64(len(alphabet)))
	for i := 0; i < secretLen; i++ {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", "", "", err
		}
		b.WriteByte(alphabet[n.Int64()])
	}
	plaintext = b.String()
	return plaintext, HashKey(plaintext), plaintext[:displayLen], nil
}

// HashKey is the stored form of a key: hex SHA-256.
func HashKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// BearerToken extracts the key from an Authorization header ("Bearer sk-…") or
// returns the api-key header value some clients (Azure-style) send.
func BearerToken(authorization, apiKeyHeader string) string {
	if authorization != "" {
		const p = "Bearer "
		if len(authorization) > len(p) && strings.EqualFold(authorization[:len(p)], p) {
			return strings.TrimSpace(authorization[len(p):])
		}
		return ""
	}
	return strings.TrimSpace(apiKeyHeader)
}
