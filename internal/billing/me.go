package billing

import (
	"net/http"

	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/store"
)

// maxKeys bounds the keys /v1/me/usage lists.
const maxKeys = 1000

// myUsage serves GET /v1/me/usage?month=: the caller's own month (the owner
// of the key presented, whatever its role) by app, model and day, and their
// keys. CSV gives the month's rows by day × app × model.
func (a *API) myUsage(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	m, csv, err := a.monthAndFormat(r)
	if err != nil {
		return err
	}
	ub, err := a.store.UserBilling(r.Context(), p.UserOID, m)
	if err != nil {
		return err
	}
	if csv {
		return writeCSV(w, "usage-"+m.String()+".csv", userRowsTable(ub))
	}
	keys, err := a.store.ListKeys(r.Context(), p.UserOID, store.Page{Limit: maxKeys})
	if err != nil {
		return err
	}
	u := store.User{OID: p.UserOID, Email: p.Email}
	return writeJSON(w, meView{Object: "usage", userDetailView: viewUserDetail(u, ub),
		Keys: mapSlice(keys, viewKey)})
}
