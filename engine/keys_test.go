package engine

import "github.com/tollgate-voip/tollgate/counter"

func keyExtConcurrent(tenant, ext string) counter.Key {
	return counter.Key{Scope: counter.ExtIntlConcurrent, Tenant: tenant, Subject: ext}
}
