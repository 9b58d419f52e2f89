// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// Tests using it are skipped unless TEST_DATABASE_URL names a server and a
// database to connect to for administration, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar is the environment variable naming the administration database.
const EnvVar = "TEST_DATABASE_URL"

// NewDatabase creates an empty database named gwtest_<random> on the server of
// TEST_DATABASE_URL and returns its URL; the database is dropped (WITH (FORCE))
// when the test ends. Without TEST_DATABASE_URL the test is skipped, or fails
// when GATEWAY_TEST_REQUIRE_INTEGRATION is set (as in CI).
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := strings.TrimSpace(os.Getenv(EnvVar))
	if admin == "" {
		if os.Getenv("GATEWAY_TEST_REQUIRE_INTEGRATION") != "" {
			t.Fatal(EnvVar + " is not set but GATEWAY_TEST_REQUIRE_INTEGRATION requires the PostgreSQL suite")
		}
		t.Skip(EnvVar + " not set")
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: random name: %v", err)
	}
	name := "gwtest_" + hex.EncodeToString(b[:])
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvVar, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dbURL
}

// exec runs one statement on its own connection to the administration database.
func exec(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns connURL (a URL or a key=value DSN) pointing at database name.
func withDatabase(connURL, name string) (string, error) {
	if !strings.Contains(connURL, "://") {
		return connURL + " dbname=" + name, nil
	}
	u, err := url.Parse(connURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	u.RawPath = ""
	q := u.Query()
	if q.Has("dbname") {
		q.Set("dbname", name)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}
