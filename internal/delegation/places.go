package delegation

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/antigravity/gateway/internal/apierror"
)

// This file reads the pair from the query, the body's top level and the headers
// (method A, in messages, is messages.go). Each reader returns what was given,
// possibly only one id (the resolver refuses half pairs), and a 400 for a value
// that is present but unusable.

// fromQuery reads and removes x_user_oid / x_app_id from the URL query.
func fromQuery(q url.Values) (ids IDs, changed bool, err *apierror.Error) {
	for _, name := range [...]string{ParamUserOID, ParamAppID} {
		vals, ok := q[name]
		if !ok {
			continue
		}
		delete(q, name)
		changed = true
		if err != nil {
			continue // keep removing, report the first problem
		}
		if len(vals) > 1 {
			err = invalid(name, prefix(MethodQuery, "")+"'"+name+"' is given "+itoa(len(vals))+" times; give it once.")
			continue
		}
		v := ""
		if len(vals) == 1 {
			v = vals[0]
		}
		if why := idProblem(name, v); why != "" {
			err = invalid(name, prefix(MethodQuery, "")+why)
			continue
		}
		ids = ids.with(name, v)
	}
	return ids, changed, err
}

// fromBody reads and removes top-level x_user_oid / x_app_id. A null value
// counts as absent (it is removed all the same).
func fromBody(fields map[string]json.RawMessage) (ids IDs, changed bool, err *apierror.Error) {
	for _, name := range [...]string{ParamUserOID, ParamAppID} {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		delete(fields, name)
		changed = true
		if err != nil || string(raw) == "null" {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			err = invalid(name, prefix(MethodBody, "")+"'"+name+"' must be a string, found "+quoteID(string(raw))+".")
			continue
		}
		if why := idProblem(name, v); why != "" {
			err = invalid(name, prefix(MethodBody, "")+why)
			continue
		}
		ids = ids.with(name, v)
	}
	return ids, changed, err
}

// fromHeaders reads X-User-Oid / X-App-Id on the API-key route.
func fromHeaders(h http.Header) (ids IDs, err *apierror.Error) {
	for _, name := range [...]string{HeaderUserOID, HeaderAppID} {
		vals := h.Values(name)
		switch {
		case len(vals) == 0:
			continue
		case len(vals) > 1:
			return IDs{}, invalid(name, prefix(MethodHeader, "")+"the header "+name+" is sent "+itoa(len(vals))+
				" times; send it once.")
		}
		if why := idProblem(name, vals[0]); why != "" {
			return IDs{}, invalid(name, prefix(MethodHeader, "")+why)
		}
		if name == HeaderUserOID {
			ids.UserOID = vals[0]
		} else {
			ids.AppID = vals[0]
		}
	}
	return ids, nil
}

// with sets the id named name (x_user_oid or x_app_id).
func (p IDs) with(name, v string) IDs {
	if name == ParamUserOID {
		p.UserOID = v
	} else {
		p.AppID = v
	}
	return p
}

// stripParams removes the parameters from the query and the body without
// reading them (the shared-secret route honours only its headers).
func stripParams(in Input) (queryChanged, bodyChanged bool) {
	for _, name := range [...]string{ParamUserOID, ParamAppID} {
		if _, ok := in.Query[name]; ok {
			delete(in.Query, name)
			queryChanged = true
		}
		if _, ok := in.Fields[name]; ok {
			delete(in.Fields, name)
			bodyChanged = true
		}
	}
	return queryChanged, bodyChanged
}
