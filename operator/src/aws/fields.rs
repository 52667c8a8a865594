//! Reading Plumb's canonical field values into SDK arguments, and writing observed values back.

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::AwsError;
use crate::engine::{Desired, Fields, Observed, ResourceId};

/// The values to write for one resource: for a create, the create-only fields under the
/// desired ones; for an update, the create-only fields under what AWS has under the desired
/// ones (so an ignored field keeps its AWS value and an unmanaged one is left as it is).
#[derive(Debug)]
pub(crate) struct View<'a> {
    pub id: &'a ResourceId,
    fields: Fields,
}

impl<'a> View<'a> {
    pub fn for_create(desired: &'a Desired) -> Self {
        Self::merged(desired, None)
    }

    pub fn for_update(desired: &'a Desired, observed: Option<&Observed>) -> Self {
        Self::merged(desired, observed)
    }

    fn merged(desired: &'a Desired, observed: Option<&Observed>) -> Self {
        let mut fields = desired.create_only.clone();
        if let Some(observed) = observed {
            fields.extend(observed.fields.clone());
        }
        fields.extend(desired.fields.clone());
        Self {
            id: &desired.id,
            fields,
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.get(name).is_some_and(|v| !v.is_null())
    }

    pub fn value(&self, name: &'static str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    fn invalid(&self, name: &'static str) -> AwsError {
        AwsError::Field {
            resource: self.id.clone(),
            field: name,
        }
    }

    fn typed<T>(
        &self,
        name: &'static str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, AwsError> {
        self.value(name)
            .map(|v| read(v).ok_or_else(|| self.invalid(name)))
            .transpose()
    }

    fn required<T>(
        &self,
        name: &'static str,
        value: Result<Option<T>, AwsError>,
    ) -> Result<T, AwsError> {
        value?.ok_or_else(|| self.invalid(name))
    }

    pub fn str(&self, name: &'static str) -> Result<Option<&str>, AwsError> {
        self.value(name)
            .map(|v| v.as_str().ok_or_else(|| self.invalid(name)))
            .transpose()
    }

    pub fn req_str(&self, name: &'static str) -> Result<&str, AwsError> {
        self.str(name)?.ok_or_else(|| self.invalid(name))
    }

    pub fn i32(&self, name: &'static str) -> Result<Option<i32>, AwsError> {
        self.typed(name, |v| v.as_i64().and_then(|n| i32::try_from(n).ok()))
    }

    pub fn req_i32(&self, name: &'static str) -> Result<i32, AwsError> {
        self.required(name, self.i32(name))
    }

    pub fn f64(&self, name: &'static str) -> Result<Option<f64>, AwsError> {
        self.typed(name, Value::as_f64)
    }

    pub fn req_f64(&self, name: &'static str) -> Result<f64, AwsError> {
        self.required(name, self.f64(name))
    }

    pub fn bool(&self, name: &'static str) -> Result<Option<bool>, AwsError> {
        self.typed(name, Value::as_bool)
    }

    /// A JSON number as the decimal string some APIs take (`"256"`).
    pub fn req_number_string(&self, name: &'static str) -> Result<String, AwsError> {
        match self.value(name) {
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(self.invalid(name)),
        }
    }

    pub fn strings(&self, name: &'static str) -> Result<Option<Vec<String>>, AwsError> {
        self.typed(name, |v| {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
    }

    /// An object of strings (`{"NAME": "value"}`).
    pub fn string_map(
        &self,
        name: &'static str,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        self.typed(name, |v| {
            v.as_object()?
                .iter()
                .map(|(k, s)| Some((k.clone(), s.as_str()?.to_owned())))
                .collect()
        })
    }

    /// Reads a field of an object-valued field, e.g. `healthCheck.interval`.
    pub fn member(&self, name: &'static str, member: &str) -> Option<&Value> {
        self.value(name)?.get(member).filter(|v| !v.is_null())
    }

    pub fn error(&self, name: &'static str) -> AwsError {
        self.invalid(name)
    }

    /// The resource as just written, for when the response does not describe it.
    pub fn observed(&self, arn: Option<String>) -> Observed {
        Observed::new(self.id.clone(), arn, self.fields.clone())
    }
}

/// Builds an observed resource's fields.
#[derive(Debug, Default)]
pub(crate) struct Out(pub Fields);

impl Out {
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.0.insert(name.to_owned(), value.into());
    }

    pub fn opt(&mut self, name: &str, value: Option<impl Into<Value>>) {
        if let Some(value) = value {
            self.set(name, value);
        }
    }
}
