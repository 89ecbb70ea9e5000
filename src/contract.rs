//! Every conversion between the contract's enums (`pb`) and the domain's,
//! in one place, as `From`/`TryFrom` impls. A contract value with no domain
//! counterpart (the `*_UNSPECIFIED` zero) is [`Unspecified`]; a number the
//! contract does not name never reaches here (prost's `TryFrom<i32>` refuses
//! it first), so validation tells the two apart.

use crate::{
    domain::{DocumentKind, DuiType, Gender, Purpose},
    pb::identity_v1 as pb,
};

/// The contract's zero value: "not set".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unspecified;

impl TryFrom<pb::DuiType> for DuiType {
    type Error = Unspecified;

    fn try_from(value: pb::DuiType) -> Result<Self, Unspecified> {
        Ok(match value {
            pb::DuiType::Unspecified => return Err(Unspecified),
            pb::DuiType::BrCpf => DuiType::BrCpf,
            pb::DuiType::MxCurp => DuiType::MxCurp,
            pb::DuiType::UsSsn => DuiType::UsSsn,
            pb::DuiType::NgNin => DuiType::NgNin,
            pb::DuiType::ArDni => DuiType::ArDni,
            pb::DuiType::IdNik => DuiType::IdNik,
        })
    }
}

impl From<DuiType> for pb::DuiType {
    fn from(value: DuiType) -> Self {
        match value {
            DuiType::BrCpf => pb::DuiType::BrCpf,
            DuiType::MxCurp => pb::DuiType::MxCurp,
            DuiType::UsSsn => pb::DuiType::UsSsn,
            DuiType::NgNin => pb::DuiType::NgNin,
            DuiType::ArDni => pb::DuiType::ArDni,
            DuiType::IdNik => pb::DuiType::IdNik,
        }
    }
}

impl TryFrom<pb::Gender> for Gender {
    type Error = Unspecified;

    fn try_from(value: pb::Gender) -> Result<Self, Unspecified> {
        match value {
            pb::Gender::Unspecified => Err(Unspecified),
            pb::Gender::Male => Ok(Gender::Male),
            pb::Gender::Female => Ok(Gender::Female),
        }
    }
}

impl TryFrom<pb::Purpose> for Purpose {
    type Error = Unspecified;

    fn try_from(value: pb::Purpose) -> Result<Self, Unspecified> {
        Ok(match value {
            pb::Purpose::Unspecified => return Err(Unspecified),
            pb::Purpose::CreditProcess => Purpose::CreditProcess,
            pb::Purpose::CarPurchase => Purpose::CarPurchase,
            pb::Purpose::PayByPaycheck => Purpose::PayByPaycheck,
            pb::Purpose::Onboarding => Purpose::Onboarding,
            pb::Purpose::Fgts => Purpose::Fgts,
        })
    }
}

impl TryFrom<pb::DocumentType> for DocumentKind {
    type Error = Unspecified;

    fn try_from(value: pb::DocumentType) -> Result<Self, Unspecified> {
        Ok(match value {
            pb::DocumentType::Unspecified => return Err(Unspecified),
            pb::DocumentType::Rg => DocumentKind::Rg,
            pb::DocumentType::Cnh => DocumentKind::Cnh,
            pb::DocumentType::Cin => DocumentKind::Cin,
            pb::DocumentType::Passaporte => DocumentKind::Passaporte,
        })
    }
}

impl From<DocumentKind> for pb::DocumentType {
    fn from(value: DocumentKind) -> Self {
        match value {
            DocumentKind::Rg => pb::DocumentType::Rg,
            DocumentKind::Cnh => pb::DocumentType::Cnh,
            DocumentKind::Cin => pb::DocumentType::Cin,
            DocumentKind::Passaporte => pb::DocumentType::Passaporte,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_dui_type_round_trips_and_unspecified_has_no_domain_value() {
        for number in 0..=i32::from(u8::MAX) {
            let Ok(contract) = pb::DuiType::try_from(number) else {
                continue;
            };
            match DuiType::try_from(contract) {
                Ok(domain) => assert_eq!(pb::DuiType::from(domain), contract),
                Err(Unspecified) => assert_eq!(contract, pb::DuiType::Unspecified),
            }
        }
    }
}
