//! Identifier (DUI) types: the closed vocabulary the facade knows, and the raw
//! upstream spelling kept alongside so that a newer type is never lost.

use std::fmt;

/// A kind of personal identifier known to this version of the facade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DuiType {
    BrCpf,
    MxCurp,
    UsSsn,
    NgNin,
    ArDni,
    IdNik,
}

impl DuiType {
    pub const ALL: [DuiType; 6] = [
        DuiType::BrCpf,
        DuiType::MxCurp,
        DuiType::UsSsn,
        DuiType::NgNin,
        DuiType::ArDni,
        DuiType::IdNik,
    ];

    /// The vendor's spelling, sent in request bodies.
    pub fn as_upstream(self) -> &'static str {
        match self {
            DuiType::BrCpf => "DUI_TYPE_BR_CPF",
            DuiType::MxCurp => "DUI_TYPE_MX_CURP",
            DuiType::UsSsn => "DUI_TYPE_US_SSN",
            DuiType::NgNin => "DUI_TYPE_NG_NIN",
            DuiType::ArDni => "DUI_TYPE_AR_DNI",
            DuiType::IdNik => "DUI_TYPE_ID_NIK",
        }
    }

    pub fn from_upstream(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_upstream() == name)
    }
}

impl fmt::Display for DuiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_upstream())
    }
}

/// A DUI type exactly as the upstream spelled it in a response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DuiTypeName(pub String);

impl DuiTypeName {
    /// The known type, if this version of the facade knows the spelling.
    pub fn known(&self) -> Option<DuiType> {
        DuiType::from_upstream(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_upstream_spelling() {
        for t in DuiType::ALL {
            assert_eq!(DuiType::from_upstream(t.as_upstream()), Some(t));
        }
        assert_eq!(DuiTypeName("DUI_TYPE_XX_NEW".into()).known(), None);
    }
}
