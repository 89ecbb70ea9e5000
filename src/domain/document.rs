//! The closed vocabularies of document processes: gender, purpose, and the
//! document types the vendor recognises.

/// Gender as the ID API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn as_upstream(self) -> &'static str {
        match self {
            Gender::Male => "M",
            Gender::Female => "F",
        }
    }
}

/// The business purpose of a document process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    CreditProcess,
    CarPurchase,
    PayByPaycheck,
    Onboarding,
    Fgts,
}

impl Purpose {
    pub fn as_upstream(self) -> &'static str {
        match self {
            Purpose::CreditProcess => "creditprocess",
            Purpose::CarPurchase => "carpurchase",
            Purpose::PayByPaycheck => "paybypaycheck",
            Purpose::Onboarding => "onboarding",
            Purpose::Fgts => "fgts",
        }
    }
}

/// A document type the facade knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Rg,
    Cnh,
    Cin,
    Passaporte,
}

impl DocumentKind {
    /// Reads the registry names (`unico.moja.dictionary.br.cnh.v2.Cnh`) and the
    /// short names (`CNH`) seen across the vendor's pages.
    pub fn from_upstream(name: &str) -> Option<Self> {
        Some(match name {
            "unico.moja.dictionary.br.rg.v2.Rg" | "RG" => DocumentKind::Rg,
            "unico.moja.dictionary.br.cnh.v2.Cnh" | "CNH" => DocumentKind::Cnh,
            "unico.moja.dictionary.br.cin.v1.Cin" | "CIN" => DocumentKind::Cin,
            "unico.moja.dictionary.br.passaporte.v1.Passaporte" | "PASSAPORTE" | "PASSPORT" => {
                DocumentKind::Passaporte
            }
            _ => return None,
        })
    }

    /// The word of `GET /documents/v1?type=`.
    pub fn as_query(self) -> &'static str {
        match self {
            DocumentKind::Rg => "BR_RG",
            DocumentKind::Cnh => "BR_CNH",
            DocumentKind::Cin => "BR_CIN",
            DocumentKind::Passaporte => "BR_PASSPORT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_and_short_names_are_both_read() {
        assert_eq!(
            DocumentKind::from_upstream("unico.moja.dictionary.br.cnh.v2.Cnh"),
            Some(DocumentKind::Cnh)
        );
        assert_eq!(DocumentKind::from_upstream("CNH"), Some(DocumentKind::Cnh));
        assert_eq!(DocumentKind::from_upstream("RG"), Some(DocumentKind::Rg));
        assert_eq!(DocumentKind::from_upstream("CIN"), Some(DocumentKind::Cin));
        assert_eq!(
            DocumentKind::from_upstream("unico.moja.dictionary.br.passaporte.v1.Passaporte"),
            Some(DocumentKind::Passaporte)
        );
        assert_eq!(DocumentKind::from_upstream("UNKNOWN"), None);
        assert_eq!(DocumentKind::from_upstream("cnh"), None);
    }
}
