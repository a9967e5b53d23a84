public enum EmberPlaceholder {}
