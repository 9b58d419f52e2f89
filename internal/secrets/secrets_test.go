package secrets

import "testing"

func TestSealOpen(t *testing.T) {
	b, err := NewBox("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := b.Seal("sk-upstream-secret")
	if err != nil {
		t.Fatal(err)
	}
	if string(ct) == "sk-upstream-secret" {
		t.Fatal("not encrypted")
	}
	pt, err := b.Open(ct)
	if err != nil || pt != "sk-upstream-secret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	other, _ := NewBox("another key")
	if _, err := other.Open(ct); err == nil {
		t.Fatal("opened with the wrong key")
	}
	if ct, _ := b.Seal(""); ct != nil {
		t.Fatal("empty credential should seal to nil")
	}
}
