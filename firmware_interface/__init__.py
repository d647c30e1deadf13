"""Wire protocol of the sensor boards, serial/BLE drivers and a device simulator."""
