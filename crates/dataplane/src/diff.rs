//! Minimal operations from one pool to another, shaped like IPVS's commands.

use crate::model::{Dest, DestKey, Pool, Service, ServiceKey};

/// One change to the load balancer (IPVS: NEW_SERVICE, SET_SERVICE, DEL_SERVICE,
/// NEW_DEST, SET_DEST, DEL_DEST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A new service without destinations (they follow as `AddDest`).
    AddService(Service),
    /// New scheduler, flags or persistence for an existing service (destinations unchanged).
    EditService(Service),
    /// Remove a service and all its destinations.
    DelService(ServiceKey),
    AddDest {
        service: ServiceKey,
        dest: DestKey,
        params: Dest,
    },
    /// New weight / method / thresholds for an existing destination.
    EditDest {
        service: ServiceKey,
        dest: DestKey,
        params: Dest,
    },
    /// Remove a destination (a dead server: its connections are flushed).
    DelDest { service: ServiceKey, dest: DestKey },
}

impl Op {
    /// The service this operation is about.
    pub fn service(&self) -> ServiceKey {
        match self {
            Op::AddService(s) | Op::EditService(s) => s.key,
            Op::DelService(k) => *k,
            Op::AddDest { service, .. }
            | Op::EditDest { service, .. }
            | Op::DelDest { service, .. } => *service,
        }
    }

    /// True for service-level (structural) operations.
    pub fn is_structural(&self) -> bool {
        matches!(
            self,
            Op::AddService(_) | Op::EditService(_) | Op::DelService(_)
        )
    }
}

/// The operations turning `actual` into `desired`: services removed first, then
/// added or edited ones, each service's destinations after the service.
pub fn diff(actual: &Pool, desired: &Pool) -> Vec<Op> {
    let mut ops = Vec::new();
    for k in actual.keys() {
        if !desired.contains_key(k) {
            ops.push(Op::DelService(*k));
        }
    }
    for (k, want) in desired {
        let have = match actual.get(k) {
            None => {
                ops.push(Op::AddService(want.header()));
                None
            }
            Some(have) => {
                if !have.same_header(want) {
                    ops.push(Op::EditService(want.header()));
                }
                Some(have)
            }
        };
        if let Some(have) = have {
            for d in have.destinations.keys() {
                if !want.destinations.contains_key(d) {
                    ops.push(Op::DelDest {
                        service: *k,
                        dest: *d,
                    });
                }
            }
        }
        for (d, params) in &want.destinations {
            match have.and_then(|h| h.destinations.get(d)) {
                None => ops.push(Op::AddDest {
                    service: *k,
                    dest: *d,
                    params: params.clone(),
                }),
                Some(old) if old != params => ops.push(Op::EditDest {
                    service: *k,
                    dest: *d,
                    params: params.clone(),
                }),
                Some(_) => {}
            }
        }
    }
    ops
}

/// Applies `ops` to `pool` (what a backend does to its own picture). Operations
/// on missing services / destinations are errors.
pub fn apply_ops(pool: &mut Pool, ops: &[Op]) -> Result<(), String> {
    for op in ops {
        match op {
            Op::AddService(s) => {
                if pool.contains_key(&s.key) {
                    return Err(format!("service {} exists", s.key));
                }
                pool.insert(s.key, s.clone());
            }
            Op::EditService(s) => {
                let have = pool
                    .get_mut(&s.key)
                    .ok_or_else(|| format!("no service {}", s.key))?;
                let dests = std::mem::take(&mut have.destinations);
                *have = Service {
                    destinations: dests,
                    ..s.clone()
                };
            }
            Op::DelService(k) => {
                pool.remove(k).ok_or_else(|| format!("no service {k}"))?;
            }
            Op::AddDest {
                service,
                dest,
                params,
            }
            | Op::EditDest {
                service,
                dest,
                params,
            } => {
                let s = pool
                    .get_mut(service)
                    .ok_or_else(|| format!("no service {service}"))?;
                let exists = s.destinations.contains_key(dest);
                if exists == matches!(op, Op::AddDest { .. }) {
                    return Err(format!(
                        "destination {dest} of {service} {}",
                        if exists { "exists" } else { "missing" }
                    ));
                }
                s.destinations.insert(*dest, params.clone());
            }
            Op::DelDest { service, dest } => {
                pool.get_mut(service)
                    .ok_or_else(|| format!("no service {service}"))?
                    .destinations
                    .remove(dest)
                    .ok_or_else(|| format!("no destination {dest} in {service}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Persistence, Proto};

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Ip {
            addr: "192.0.2.10".parse().unwrap(),
            port,
            proto: Proto::Tcp,
        }
    }
    fn dk(n: u8) -> DestKey {
        DestKey {
            addr: format!("10.0.0.{n}").parse().unwrap(),
            port: 80,
        }
    }
    fn pool(weights: &[(u8, u32)]) -> Pool {
        let mut s = Service::new(key(80), "wrr");
        for (n, w) in weights {
            s.destinations.insert(dk(*n), Dest::nat(*w));
        }
        Pool::from([(s.key, s)])
    }

    #[test]
    fn weight_change_is_one_edit() {
        let a = pool(&[(1, 1), (2, 1), (3, 1)]);
        let b = pool(&[(1, 1), (2, 5), (3, 1)]);
        assert_eq!(
            diff(&a, &b),
            vec![Op::EditDest {
                service: key(80),
                dest: dk(2),
                params: Dest::nat(5)
            }]
        );
    }

    #[test]
    fn flap_is_one_del_then_one_add() {
        let a = pool(&[(1, 1), (2, 1), (3, 1)]);
        let b = pool(&[(1, 1), (3, 1)]);
        assert_eq!(
            diff(&a, &b),
            vec![Op::DelDest {
                service: key(80),
                dest: dk(2)
            }]
        );
        assert_eq!(
            diff(&b, &a),
            vec![Op::AddDest {
                service: key(80),
                dest: dk(2),
                params: Dest::nat(1)
            }]
        );
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn services_added_edited_removed() {
        let a = pool(&[(1, 1)]);
        let mut b = Pool::new();
        let mut s = Service::new(key(443), "rr");
        s.destinations.insert(dk(1), Dest::nat(1));
        b.insert(s.key, s.clone());
        let ops = diff(&a, &b);
        assert_eq!(ops[0], Op::DelService(key(80)));
        assert_eq!(ops[1], Op::AddService(s.header()));
        assert!(matches!(ops[2], Op::AddDest { .. }));
        assert_eq!(ops.len(), 3);

        let mut c = a.clone();
        let svc = c.get_mut(&key(80)).unwrap();
        svc.persistence = Some(Persistence {
            timeout_s: 60,
            granularity: 32,
        });
        let ops = diff(&a, &c);
        assert_eq!(ops.len(), 1);
        assert!(matches!(&ops[0], Op::EditService(s) if s.destinations.is_empty()));
    }

    #[test]
    fn apply_ops_round_trip() {
        let a = pool(&[(1, 1), (2, 1), (3, 1)]);
        let mut b = pool(&[(1, 2), (4, 1)]);
        b.insert(key(443), Service::new(key(443), "sh"));
        let mut x = a.clone();
        apply_ops(&mut x, &diff(&a, &b)).unwrap();
        assert_eq!(x, b);
        let mut y = b.clone();
        apply_ops(&mut y, &diff(&b, &Pool::new())).unwrap();
        assert!(y.is_empty());
        assert!(apply_ops(&mut y, &[Op::DelService(key(1))]).is_err());
    }
}
